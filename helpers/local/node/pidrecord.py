"""The node's record of its containers' processes, so that the next agent on its folder stops what a killed one left.

A kubelet's containers outlive it in their runtime and are found again; here they are the agent's
children, and a killed agent (SIGKILL, a crashed test session) would leave them running and
holding their ports. The record is rewritten (atomically, as clean-up reads it from another
process) only when the set of running processes changes.
"""

from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Mapping

from helpers import files
from helpers.local import pids
from helpers.local.node import podrun

logger = logging.getLogger(__name__)

# Seconds a leftover process gets after SIGTERM before SIGKILL: nothing waits on its output any more.
LEFTOVER_GRACE_S = 1.0


class PidRecord:
    """`<uid>/<container>` -> pid record of every running container, in one JSON file."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._written = ""

    def write(self, runners: Mapping[str, podrun.PodRunner]) -> None:
        """Record the running containers of `runners` (by pod uid) when they changed since the last write."""
        records = {
            f"{uid}/{name}": pids.record(run.pid, [])
            for uid, runner in runners.items()
            for name, run in runner.runs.items()
            if run.state == "running" and run.pid
        }
        shaped = json.dumps(sorted(records))
        if shaped != self._written:
            files.write_json(self.path, records)
            self._written = shaped

    def stop_leftovers(self) -> None:
        """Stop the processes a previous agent on this folder recorded, and forget the record."""
        if not self.path.exists():
            return
        for record in json.loads(self.path.read_text()).values():
            if pids.stop(record, grace_s=LEFTOVER_GRACE_S):
                logger.info("stopped leftover container process %s", record["pid"])
        self.path.unlink()

    def remove(self) -> None:
        """Drop the record (every container was stopped)."""
        self.path.unlink(missing_ok=True)
