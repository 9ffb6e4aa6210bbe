"""Start a control-plane process detached from its caller, and read the end of its log.

Each process runs in a session of its own with its output in `<folder>/logs/<name>.log` and is
known afterwards by its pid record (helpers.local.pids), so `make cluster-up` can return while the
servers go on, and `down` finds them again from another process.
"""

from __future__ import annotations

import logging
import pathlib
import subprocess
import sys

from controlplane import errors
from helpers.local import pids

logger = logging.getLogger(__name__)

# Started through a short-lived Python in between, so the server is nobody's child: it outlives
# `make cluster-up`, and a test session does not hold unreaped children (init reaps them).
_DETACH = (
    "import subprocess, sys\n"
    "with open(sys.argv[1], 'ab') as log:\n"
    "    child = subprocess.Popen(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT,"
    " stdin=subprocess.DEVNULL, start_new_session=True)\n"
    "print(child.pid)\n"
)


def start(name: str, argv: list[str], *, folder: pathlib.Path) -> pids.ProcessRecord:
    """Start `argv` as `name`, its output appended to `<folder>/logs/<name>.log`; returns its pid record.

    Raises ControlPlaneError when it cannot be started.
    """
    log_path = folder / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = subprocess.run(
        [sys.executable, "-c", _DETACH, str(log_path), *argv],
        capture_output=True,
        text=True,
        check=False,
        cwd=folder,
    )
    if started.returncode != 0:
        raise errors.ControlPlaneError(f"could not start {name}: {started.stderr.strip()}")
    pid = int(started.stdout)
    logger.info("started %s (pid %d), log %s", name, pid, log_path)
    return pids.record(pid, argv)


def tail(folder: pathlib.Path, name: str, lines: int = 30) -> str:
    """The last `lines` lines of `name`'s log, for error messages."""
    try:
        return "\n".join((folder / "logs" / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
