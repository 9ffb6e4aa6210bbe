"""The default renders match their reviewed golden files, which hold no secrets and no machine paths."""

from __future__ import annotations

import difflib
import pathlib
import re

import pytest

from tests.manifests import cases

# An AWS access key id; the only one a golden file may hold is the documented fake.
ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")


@pytest.mark.parametrize("case", cases.GOLDEN_CASES, ids=[case.id for case in cases.GOLDEN_CASES])
def test_the_default_render_matches_its_golden_file(case: cases.Case) -> None:
    path = cases.golden_path(case)
    assert path.is_file(), f"no golden file {path.name}; create it with `{cases.REGENERATE_COMMAND}`"
    expected = path.read_text()
    actual = cases.golden_text(case)
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "golden", "rendered"))
        pytest.fail(
            f"{case.id} renders differently from {path.name}; if intended, run "
            f"`{cases.REGENERATE_COMMAND}` and review the diff:\n{diff}"
        )


def test_every_golden_file_belongs_to_a_case() -> None:
    expected = {cases.golden_path(case).name for case in cases.GOLDEN_CASES}
    assert {path.name for path in cases.GOLDEN_DIR.glob("*")} == expected


def test_golden_files_hold_no_real_credentials() -> None:
    for path in sorted(cases.GOLDEN_DIR.glob("*.yaml")):
        text = path.read_text()
        for match in ACCESS_KEY_ID.finditer(text):
            assert match.group() == cases.FAKE_KEYS.access_key, f"{path.name} holds a real-looking key id"
        assert "AWS_SESSION_TOKEN" not in text, f"{path.name} holds a session token"
        for line in text.splitlines():
            if "AWS_SECRET_ACCESS_KEY:" in line:
                assert line.split(":", 1)[1].strip() == cases.FAKE_KEYS.secret_key, f"{path.name}: {line}"


def test_golden_files_hold_no_paths_of_this_machine() -> None:
    machine_paths = {str(pathlib.Path(__file__).resolve().parents[2]), "/tmp/", "/home/", "/root/"}
    for path in sorted(cases.GOLDEN_DIR.glob("*.yaml")):
        text = path.read_text()
        for machine_path in machine_paths:
            assert machine_path not in text, f"{path.name} contains {machine_path}"
