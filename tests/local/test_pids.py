"""pids: records that survive a kernel, and stopping a whole process group."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

from helpers.local import pids

from . import synthetic


def test_stop_ends_the_group_including_grandchildren(pid_dir: pathlib.Path) -> None:
    # The leader starts a grandchild in its session, as a shell or a launcher script would.
    source = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {synthetic.pid_writer(pid_dir) + synthetic.SLEEP_FOREVER!r}])\n"
        "while True: time.sleep(1)\n"
    )
    leader = subprocess.Popen([sys.executable, "-c", source], start_new_session=True)
    try:
        record = pids.record(leader.pid, ["leader"])
        assert pids.is_alive(record)
        while not synthetic.recorded_pids(pid_dir):
            assert leader.poll() is None
            time.sleep(0.05)
        assert pids.stop(record, grace_s=1.0) is True
        leader.wait(timeout=10)
        assert not pids.is_alive(record)
        (grandchild,) = synthetic.recorded_pids(pid_dir)
        assert synthetic.pid_gone(grandchild)
        assert pids.stop(record, grace_s=1.0) is False
    finally:
        synthetic.kill_if_alive(leader.pid)
        leader.wait()


def test_no_such_process() -> None:
    assert pids.start_marker(2**22 + 1) is None
    pids.signal_group(2**22 + 1, 0)
