"""The notebook-server image's start command: JupyterLab under NB_PREFIX serving the notebooks."""

from __future__ import annotations

import os
import pathlib
import re
import secrets
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
START = ROOT / "notebook-server" / "start.sh"
# JupyterLab needs a few seconds to start on a busy 2-core machine.
START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def jupyter(tmp_path: pathlib.Path) -> tuple[str, str]:
    """JupyterLab started by the image's start.sh on loopback; yields (base URL, token)."""
    port, token, prefix = _free_port(), secrets.token_hex(16), "/notebook/kubeflow-user/mnist/"
    environment = {
        **os.environ,
        "HOME": str(tmp_path),
        "NB_PREFIX": prefix,
        "JUPYTER_PORT": str(port),
        "JUPYTER_IP": "127.0.0.1",
        "JUPYTER_TOKEN": token,
        "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    log = (tmp_path / "jupyter.log").open("w")
    process = subprocess.Popen(
        [str(START)], env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}{prefix}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
            assert process.poll() is None, (tmp_path / "jupyter.log").read_text()
        else:
            pytest.fail(f"JupyterLab did not answer in {START_TIMEOUT_S} s: {(tmp_path / 'jupyter.log').read_text()}")
        yield base, token
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def test_jupyterlab_lists_the_notebooks_under_the_prefix(jupyter: tuple[str, str]) -> None:
    base, token = jupyter
    listing = requests.get(f"{base}api/contents/kubeflow-mnist/notebooks", params={"token": token}, timeout=10)
    listing.raise_for_status()
    names = sorted(item["name"] for item in listing.json()["content"])
    expected = sorted(path.name for path in (ROOT / "notebooks").glob("*.ipynb"))
    assert names == expected and "01_aws_setup.ipynb" in names
    notebook = requests.get(
        f"{base}api/contents/kubeflow-mnist/notebooks/01_aws_setup.ipynb", params={"token": token}, timeout=10
    ).json()
    assert notebook["type"] == "notebook"
    assert notebook["content"]["cells"][1]["metadata"]["tags"] == ["parameters"]
    assert requests.get(f"{base}api/status", timeout=10).status_code == 403, "the token is required"


def test_dockerfile_meets_kubeflow_notebook_requirements() -> None:
    dockerfile = (ROOT / "notebook-server" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+$", dockerfile, re.MULTILINE), "pinned base"
    assert "NB_UID=1000" in dockerfile and "USER ${NB_UID}" in dockerfile, "runs as jovyan (uid 1000)"
    assert "EXPOSE 8888" in dockerfile
    assert "pip install -e ." in dockerfile
    for copied in re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE):
        assert (ROOT / copied).exists(), f"{copied} is copied but does not exist"
