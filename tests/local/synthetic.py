"""Synthetic TFJobs and process checks for the local executor tests (tiny `python -c` replicas)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import time
from typing import Any

from helpers.local import pids

# Seconds a test waits for a process it expects to vanish; generous for a loaded 2-core machine.
GONE_TIMEOUT_S = 10.0


def pid_gone(pid: int, *, timeout_s: float = GONE_TIMEOUT_S) -> bool:
    """True once `pid` no longer runs (a zombie counts as gone: it runs no code)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        marker = pids.start_marker(pid)
        if marker is None or not pids.is_alive({"pid": pid, "started": marker, "argv": []}):
            return True
        time.sleep(0.05)
    return False


def kill_if_alive(pid: int) -> None:
    """Last-resort clean-up for a test that failed before the code under test stopped `pid`."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def script(source: str) -> list[str]:
    """Container args running `source` with `python -c` (the command is the `python` mapping)."""
    return ["-c", source]


def replica(source: str, *, replicas: int = 1, restart_policy: str | None = None) -> dict[str, Any]:
    """A TFJob replica spec whose `tensorflow` container runs a short Python script."""
    spec: dict[str, Any] = {
        "replicas": replicas,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "tensorflow",
                        "image": "python:3.11-slim",
                        "command": ["python"],
                        "args": script(source),
                        "ports": [{"name": "tfjob-port", "containerPort": 2222}],
                    }
                ]
            }
        },
    }
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return spec


def tfjob(name: str, specs: dict[str, dict[str, Any]], **run_policy: Any) -> dict[str, Any]:
    """A rendered-looking TFJob with the given replica specs and runPolicy fields."""
    spec: dict[str, Any] = {"tfReplicaSpecs": specs}
    if run_policy:
        spec["runPolicy"] = run_policy
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "TFJob",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": spec,
    }


def pid_writer(pid_dir: pathlib.Path) -> str:
    """Python source that records this process's pid and TF_CONFIG under `pid_dir`."""
    return (
        "import os, pathlib, json\n"
        f"d = pathlib.Path({str(pid_dir)!r})\n"
        "task = json.loads(os.environ.get('TF_CONFIG', '{}')).get('task', {})\n"
        "tag = f\"{task.get('type', 'single')}-{task.get('index', 0)}\"\n"
        "(d / f'{tag}.{os.getpid()}').write_text(os.environ.get('TF_CONFIG', ''))\n"
    )


def recorded_pids(pid_dir: pathlib.Path) -> list[int]:
    """Every pid a test child recorded."""
    return [int(path.suffix.lstrip(".")) for path in pid_dir.iterdir()]


SLEEP_FOREVER = "import time\nwhile True: time.sleep(1)\n"
