"""A TFJob's status as the training operator writes it: conditions and replica counts.

The local runner keeps one of these up to date while replicas start, restart and exit, and
writes it to `<state_dir>/local/jobs/<job>/status.json`, so a notebook (or a later kernel)
reads the same shape it would read from the cluster.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
from typing import Any

from helpers import files

ConditionType = str  # Created, Running, Restarting, Succeeded, Failed
TERMINAL = ("Succeeded", "Failed")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass
class TFJobStatus:
    """TFJob `status`: conditions (newest last), replicaStatuses per type, start/completion times."""

    conditions: list[dict[str, str]] = dataclasses.field(default_factory=list)
    replica_statuses: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    start_time: str = ""
    completion_time: str = ""

    def set_condition(self, condition_type: ConditionType, message: str, *, reason: str | None = None) -> None:
        """Make `condition_type` the current condition, as the operator does.

        Reason defaults to `TFJob<Type>`. Running and Restarting replace each other; a terminal
        condition turns Running off.
        """
        now = _now()
        reason = reason or f"TFJob{condition_type}"
        exclusive: tuple[str, ...] = {"Running": ("Restarting",), "Restarting": ("Running",)}.get(condition_type, ())
        if condition_type in TERMINAL:
            exclusive = ("Running", "Restarting")
        for condition in self.conditions:
            if condition["type"] in exclusive and condition["status"] == "True":
                condition.update(status="False", lastUpdateTime=now, lastTransitionTime=now)
        current = next((c for c in self.conditions if c["type"] == condition_type), None)
        if current is not None and current["status"] == "True" and current["reason"] == reason:
            return
        if current is not None:
            self.conditions.remove(current)
        self.conditions.append(
            {
                "type": condition_type,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastUpdateTime": now,
                "lastTransitionTime": now,
            }
        )
        if condition_type == "Running" and not self.start_time:
            self.start_time = now
        if condition_type in TERMINAL:
            self.completion_time = now

    def count(self, replica_type: str, *, active: int, succeeded: int, failed: int) -> None:
        """Set the replica counts of one type (the type as written in the spec, e.g. "Worker")."""
        self.replica_statuses[replica_type] = {"active": active, "succeeded": succeeded, "failed": failed}

    @property
    def phase(self) -> str:
        """The type of the newest condition that is True ("" before the job was created)."""
        true = [c["type"] for c in self.conditions if c["status"] == "True"]
        return true[-1] if true else ""

    @property
    def succeeded(self) -> bool:
        """True when the job succeeded."""
        return self.phase == "Succeeded"

    def to_dict(self) -> dict[str, Any]:
        """The status in the cluster's JSON shape (camelCase keys)."""
        shaped: dict[str, Any] = {"conditions": self.conditions, "replicaStatuses": self.replica_statuses}
        if self.start_time:
            shaped["startTime"] = self.start_time
        if self.completion_time:
            shaped["completionTime"] = self.completion_time
        return shaped

    def write(self, path: pathlib.Path) -> None:
        """Write the status atomically to `path`, so readers never see half a file."""
        files.write_json(path, self.to_dict())
