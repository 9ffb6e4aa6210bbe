"""The real local model server (`python -m helpers.serving.server`) as a test's child process.

One wrapper for every test folder that needs a live TF Serving REST endpoint (serving, web UI,
faults): a fixed free loopback port kept across restarts, its own process group, a log per start,
and a ready check that fails the test with the log's tail.
"""

from __future__ import annotations

import contextlib
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from helpers.local import pids

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[1]
MODEL_NAME = "mnist"
# Seconds a start gets to answer: importing TensorFlow and loading the model take seconds, more on a
# busy 2-core machine.
START_TIMEOUT_S = 120.0
# The server scans for new versions this often; short, so a copied version is seen within a second.
POLL_S = 0.2
# Seconds a stopped server gets after SIGTERM before SIGKILL.
STOP_GRACE_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ModelServer:
    """The local model server on `base_path`, on one loopback port however often it is stopped and started."""

    def __init__(
        self,
        *,
        base_path: pathlib.Path,
        log_dir: pathlib.Path,
        extra_args: tuple[str, ...] = (),
        model_name: str = MODEL_NAME,
    ) -> None:
        self.base_path = base_path
        self.log_dir = log_dir
        self.extra_args = extra_args
        self.model_name = model_name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> pathlib.Path:
        """The log of the latest start."""
        return self.log_dir / f"model-server-{self.port}-{self.starts}.log"

    def start(self) -> ModelServer:
        """Start the server and wait until the model answers; fails the test with the log otherwise.
        Returns the server itself."""
        self.starts += 1
        command = [
            sys.executable,
            "-m",
            "helpers.serving.server",
            f"--model_name={self.model_name}",
            f"--model_base_path={self.base_path}",
            f"--rest_api_port={self.port}",
            f"--file_system_poll_wait_seconds={POLL_S}",
            *self.extra_args,
        ]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            self._process = subprocess.Popen(
                command, cwd=REPOSITORY_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self._process.poll() is None:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{self.url}/v1/models/{self.model_name}", timeout=2).ok:
                    return self
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"the model server did not become ready; log:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        """Stop the server's process group (SIGTERM, SIGKILL after a grace); does nothing when it is not running."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        pids.signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pids.signal_group(process.pid, signal.SIGKILL)
            process.wait()

    def states(self) -> dict[str, str]:
        """Version -> state, as the server reports them."""
        answer = requests.get(f"{self.url}/v1/models/{self.model_name}", timeout=10).json()
        return {entry["version"]: entry["state"] for entry in answer["model_version_status"]}
