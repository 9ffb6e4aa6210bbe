"""The UI image's recipe: pinned to the tested versions, non-root, health-checked, served by waitress."""

from __future__ import annotations

import importlib.metadata
import re

from webui_testing import REPOSITORY_ROOT

WEBUI_DIR = REPOSITORY_ROOT / "webui"


def test_requirements_are_pinned_to_the_versions_the_tests_run() -> None:
    lines = [line for line in (WEBUI_DIR / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    assert lines
    for line in lines:
        name, separator, version = line.partition("==")
        assert separator, f"{line!r} is not pinned with =="
        assert importlib.metadata.version(name) == version, name


def test_dockerfile_pins_the_base_runs_as_non_root_and_serves_with_waitress() -> None:
    dockerfile = (WEBUI_DIR / "Dockerfile").read_text()
    assert re.search(r"^FROM public\.ecr\.aws/docker/library/python:\d+\.\d+\.\d+-slim-\w+$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", dockerfile, re.MULTILINE)
    assert dockerfile.rstrip().endswith('CMD ["python", "-m", "webui"]')
    assert "flask run" not in dockerfile
