"""The node agent's smaller parts on their own: the Node's heartbeat pace and the record of container processes.

The heartbeat runs against a recording stand-in for `NodeApi` with a scripted clock: its 20-second pace
cannot be waited out in a test, and the real API server's side of registration and status is proven in
tests/e2e/test_node_agent.py. The pid record stops real processes.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import subprocess
import sys
import types
from typing import Any, cast

from helpers.local.node import heartbeat, nodeapi, pidrecord, podrun

MOMENT = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


class _RecordingApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def register_node(self, body: dict[str, Any], *, lift_taint: Any) -> None:
        self.calls.append(("register", body["metadata"]["name"]))

    def patch_node_status(self, name: str, status: dict[str, Any]) -> None:
        self.calls.append(("status", name))


def test_the_node_beats_at_registration_then_once_per_interval() -> None:
    now = [100.0]
    api = _RecordingApi()
    beats = heartbeat.Heartbeat(
        cast(nodeapi.NodeApi, api), "node-1", clock=lambda: now[0], wall_clock=lambda: MOMENT, interval_s=20.0
    )
    beats.register(kubelet_port=10250)
    assert api.calls == [("register", "node-1"), ("status", "node-1")]
    for moment in (101.0, 119.9):
        now[0] = moment
        beats.beat(kubelet_port=10250)
    assert len(api.calls) == 2
    now[0] = 120.0
    beats.beat(kubelet_port=10250)
    now[0] = 121.0
    beats.beat(kubelet_port=10250)
    assert api.calls[2:] == [("status", "node-1")]


def _runner(pid: int, state: str) -> podrun.PodRunner:
    return cast(podrun.PodRunner, types.SimpleNamespace(runs={"main": types.SimpleNamespace(pid=pid, state=state)}))


def test_the_record_holds_running_containers_and_a_new_agent_stops_them(tmp_path: pathlib.Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        record = pidrecord.PidRecord(tmp_path / "pids.json")
        record.write({"uid-a": _runner(child.pid, "running"), "uid-b": _runner(0, "terminated")})
        assert list(json.loads(record.path.read_text())) == ["uid-a/main"]
        written = record.path.stat().st_ino
        record.write({"uid-a": _runner(child.pid, "running")})
        assert record.path.stat().st_ino == written  # unchanged: not rewritten
        pidrecord.PidRecord(record.path).stop_leftovers()  # the next agent on this folder
        assert child.wait(timeout=10) is not None
        assert not record.path.exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
