"""status: TFJob conditions and replica counts in the operator's shape."""

from __future__ import annotations

import json
import pathlib

from helpers.local import status as status_module


def test_conditions_follow_the_operator() -> None:
    status = status_module.TFJobStatus()
    status.set_condition("Created", "created")
    status.set_condition("Running", "running")
    status.set_condition("Restarting", "restarting")
    assert [(c["type"], c["status"]) for c in status.conditions] == [
        ("Created", "True"),
        ("Running", "False"),
        ("Restarting", "True"),
    ]
    status.set_condition("Running", "running again")
    assert status.phase == "Running" and status.start_time
    status.set_condition("Succeeded", "done")
    assert [(c["type"], c["status"], c["reason"]) for c in status.conditions] == [
        ("Created", "True", "TFJobCreated"),
        ("Restarting", "False", "TFJobRestarting"),
        ("Running", "False", "TFJobRunning"),
        ("Succeeded", "True", "TFJobSucceeded"),
    ]
    assert status.succeeded and status.completion_time


def test_written_in_camel_case(tmp_path: pathlib.Path) -> None:
    status = status_module.TFJobStatus()
    status.set_condition("Failed", "deadline", reason="DeadlineExceeded")
    status.count("Worker", active=0, succeeded=0, failed=1)
    status.write(tmp_path / "job" / "status.json")
    written = json.loads((tmp_path / "job" / "status.json").read_text())
    assert written["replicaStatuses"] == {"Worker": {"active": 0, "succeeded": 0, "failed": 1}}
    assert written["conditions"][0]["reason"] == "DeadlineExceeded"
    assert "completionTime" in written and "startTime" not in written
    assert not status.succeeded
