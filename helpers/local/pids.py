"""Records of local processes (pid + start time) and stopping a process group safely.

Detached servers and leftover replicas are found again through these records by a later
kernel. A pid alone may have been reused by an unrelated program, so a record also keeps the
process start time; a process is only ever signalled when both still match.
"""

from __future__ import annotations

import errno
import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Callable
from typing import TypedDict

# How often a stopping process is polled for exit; short, because the grace period is seconds.
POLL_INTERVAL_S = 0.05


class ProcessRecord(TypedDict):
    """A process as written to a JSON record: its pid, its start marker and its argv."""

    pid: int
    started: str
    argv: list[str]


def start_marker(pid: int) -> str | None:
    """The start time of `pid` as the OS reports it; None when there is no such process."""
    stat = pathlib.Path(f"/proc/{pid}/stat")
    if pathlib.Path("/proc/self/stat").exists():
        try:
            # Field 22 (starttime) follows the command name, which may contain spaces: split after ")".
            return stat.read_text().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            return None
    try:
        shown = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return shown.stdout.strip() or None


def _is_zombie(pid: int) -> bool:
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def record(pid: int, argv: list[str]) -> ProcessRecord:
    """A record of a running process, to be stored as JSON."""
    return {"pid": pid, "started": start_marker(pid) or "", "argv": list(argv)}


def is_alive(process: ProcessRecord) -> bool:
    """True when the recorded process still runs (same pid and same start time, not a zombie)."""
    pid = process["pid"]
    marker = start_marker(pid)
    return marker is not None and marker == process["started"] and not _is_zombie(pid)


def signal_group(pid: int, signum: int) -> None:
    """Send `signum` to the process group led by `pid`; a group that is gone (or not ours) is ignored."""
    try:
        os.killpg(pid, signum)
    except OSError as e:
        if e.errno not in (errno.ESRCH, errno.EPERM):
            raise


def stop(
    process: ProcessRecord,
    *,
    grace_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """SIGTERM the recorded process group, wait `grace_s`, then SIGKILL it.

    Returns False (and signals nothing) when the record no longer matches a live process.
    """
    if not is_alive(process):
        return False
    pid = process["pid"]
    signal_group(pid, signal.SIGTERM)
    deadline = clock() + grace_s
    while is_alive(process) and clock() < deadline:
        sleep(POLL_INTERVAL_S)
    signal_group(pid, signal.SIGKILL)
    return True
