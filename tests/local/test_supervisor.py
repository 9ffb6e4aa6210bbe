"""Supervisor: scripted histories with a fake clock and Popen, then real `sys.executable` children."""

from __future__ import annotations

import io
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.local import supervisor

from . import synthetic


class FakeClock:
    """A clock that only moves when the supervisor sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeProcess:
    """A child that exits with `code` once the fake clock passes `exit_at` (None: never by itself)."""

    def __init__(self, pid: int, clock: FakeClock, *, after_s: float | None, code: int, ignores_term: bool) -> None:
        self.pid = pid
        self.stdout = io.BytesIO(f"hello from {pid}\n".encode())
        self.returncode: int | None = None
        self._clock = clock
        self._exit_at = None if after_s is None else clock.now + after_s
        self._code = code
        self.ignores_term = ignores_term

    def poll(self) -> int | None:
        if self.returncode is None and self._exit_at is not None and self._clock.now >= self._exit_at:
            self.returncode = self._code
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        code = self.poll()
        if code is None:
            raise AssertionError("the supervisor waited on a child it had not stopped")
        return code


class Script:
    """A Popen factory that plays a scripted list of (exit after s, exit code) per child name."""

    def __init__(self, clock: FakeClock, history: dict[str, list[tuple[float | None, int]]], **options: Any) -> None:
        self.clock = clock
        self.history = {name: list(runs) for name, runs in history.items()}
        self.processes: dict[int, FakeProcess] = {}
        self.launches: list[str] = []
        self.signals: list[tuple[int, int]] = []
        self.ignores_term: set[str] = set(options.get("ignores_term", ()))

    def popen(self, argv: list[str], **kwargs: Any) -> FakeProcess:
        name = argv[0]
        assert kwargs["start_new_session"] is True and kwargs["stderr"] is subprocess.STDOUT
        after_s, code = self.history[name].pop(0)
        # Fake pids above Linux's pid_max, so a stray real signal could never reach a real process.
        pid = 5_000_000 + len(self.launches)
        process = FakeProcess(pid, self.clock, after_s=after_s, code=code, ignores_term=name in self.ignores_term)
        self.processes[process.pid] = process
        self.launches.append(name)
        return process

    def kill_group(self, pid: int, signum: int) -> None:
        self.signals.append((pid, signum))
        process = self.processes[pid]
        if process.returncode is None and not (signum == signal.SIGTERM and process.ignores_term):
            process.returncode = -signum


def scripted(
    settings: settings_module.Settings, tmp_path: pathlib.Path, script: Script, clock: FakeClock, **options: Any
) -> tuple[supervisor.Supervisor, list[tuple[str, str, int]]]:
    events: list[tuple[str, str, int]] = []
    group = supervisor.Supervisor(
        settings=settings,
        log_dir=tmp_path / "logs",
        on_line=lambda line: None,
        on_event=lambda *event: events.append(event),
        clock=clock,
        sleep=clock.sleep,
        popen=script.popen,
        kill_group=script.kill_group,
        port_picker=iter([7000, 7000, 7001]).__next__,
        **options,
    )
    return group, events


def spec(name: str) -> supervisor.ProcessSpec:
    return supervisor.ProcessSpec(name=name, argv=[name], env={})


def test_crash_then_success_under_on_failure(local_settings: settings_module.Settings, tmp_path: pathlib.Path) -> None:
    clock = FakeClock()
    script = Script(clock, {"worker-0": [(1.0, 1), (2.0, 0)], "ps-0": [(None, 0)]})
    group, events = scripted(local_settings, tmp_path, script, clock)
    group.add(spec("worker-0"), restart_policy="OnFailure", decisive=True)
    group.add(spec("ps-0"), restart_policy="OnFailure")
    group.start()
    group.wait()
    assert script.launches == ["worker-0", "ps-0", "worker-0"]
    assert [(name, event) for name, event, _ in events] == [
        ("worker-0", "started"),
        ("ps-0", "started"),
        ("worker-0", "exited"),
        ("worker-0", "restarting"),
        ("worker-0", "started"),
        ("worker-0", "exited"),
        ("ps-0", "stopped"),
    ]
    assert events[-1][2] == 128 + signal.SIGTERM
    assert group.restarts_total == 1
    assert group.states() == {"worker-0": "succeeded", "ps-0": "stopped"}
    log = group.log_path("worker-0").read_text()
    assert "--- restart 1 after exit code 1 ---" in log and log.count("hello from") == 2


def test_backoff_limit_bounds_restarts(local_settings: settings_module.Settings, tmp_path: pathlib.Path) -> None:
    clock = FakeClock()
    script = Script(clock, {"worker-0": [(0.1, 2)] * 5})
    group, _ = scripted(local_settings, tmp_path, script, clock, backoff_limit=2)
    group.add(spec("worker-0"), restart_policy="OnFailure", decisive=True)
    group.start()
    with pytest.raises(errors.ProcessFailed) as failed:
        group.wait()
    assert script.launches == ["worker-0"] * 3
    assert failed.value.exit_code == 2 and failed.value.name == "worker-0"
    assert failed.value.log_path == str(tmp_path / "logs" / "worker-0.log")


@pytest.mark.parametrize(("returncode", "launches"), [(1, 1), (-signal.SIGKILL, 2), (130, 2)])
def test_exit_code_policy_retries_only_128_and_up(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path, returncode: int, launches: int
) -> None:
    clock = FakeClock()
    script = Script(clock, {"worker-0": [(0.1, returncode), (0.1, 0)]})
    group, _ = scripted(local_settings, tmp_path, script, clock)
    group.add(spec("worker-0"), restart_policy="ExitCode", decisive=True)
    group.start()
    if launches == 1:
        with pytest.raises(errors.ProcessFailed, match="exited with code 1"):
            group.wait()
    else:
        group.wait()
    assert len(script.launches) == launches


def test_failure_stops_the_others_and_reports_first_code(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    clock = FakeClock()
    script = Script(clock, {"chief-0": [(None, 0)], "worker-1": [(0.5, 3)], "ps-0": [(None, 0)]})
    group, _ = scripted(local_settings, tmp_path, script, clock)
    group.add(spec("chief-0"), decisive=True)
    group.add(spec("worker-1"))
    group.add(spec("ps-0"))
    group.start()
    with pytest.raises(errors.ProcessFailed) as failed:
        group.wait()
    assert (failed.value.name, failed.value.exit_code) == ("worker-1", 3)
    assert group.states() == {"chief-0": "stopped", "worker-1": "failed", "ps-0": "stopped"}
    assert "hello from" in failed.value.tail


def test_sigkill_after_grace_when_sigterm_is_ignored(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    clock = FakeClock()
    script = Script(clock, {"ps-0": [(None, 0)]}, ignores_term={"ps-0"})
    group, events = scripted(local_settings, tmp_path, script, clock)
    group.add(spec("ps-0"))
    group.start()
    stop_started = clock.now
    group.stop()
    assert [signum for _, signum in script.signals] == [signal.SIGTERM, signal.SIGKILL]
    assert clock.now - stop_started >= local_settings.stop_grace_s
    assert events[-1] == ("ps-0", "stopped", 128 + signal.SIGKILL)


def test_timeout_stops_everything(local_settings: settings_module.Settings, tmp_path: pathlib.Path) -> None:
    clock = FakeClock()
    script = Script(clock, {"worker-0": [(None, 0)]})
    group, _ = scripted(local_settings, tmp_path, script, clock)
    group.add(spec("worker-0"), decisive=True)
    group.start()
    with pytest.raises(errors.WaitTimeout, match="worker-0"):
        group.wait(timeout_s=3.0)
    assert 3.0 <= clock.now < 3.0 + local_settings.stop_grace_s + 1
    assert group.states() == {"worker-0": "stopped"}


def test_duplicate_name_and_unknown_policy_are_refused(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    group = supervisor.Supervisor(settings=local_settings, log_dir=tmp_path)
    group.add(spec("a"))
    with pytest.raises(errors.ConfigError, match="already has that name"):
        group.add(spec("a"))
    with pytest.raises(errors.ConfigError, match="restartPolicy"):
        group.add(spec("b"), restart_policy="Sometimes")  # type: ignore[arg-type]


def test_pick_port_never_hands_out_a_port_twice(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    clock = FakeClock()
    group, _ = scripted(local_settings, tmp_path, Script(clock, {}), clock)
    assert [group.pick_port(), group.pick_port()] == [7000, 7001]


def real_spec(name: str, source: str) -> supervisor.ProcessSpec:
    return supervisor.ProcessSpec(name=name, argv=[sys.executable, "-c", source], env={"PYTHONUNBUFFERED": "1"})


def test_real_children_stream_prefixed_lines_and_leave_no_orphans(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path, pid_dir: pathlib.Path
) -> None:
    lines: list[str] = []
    group = supervisor.Supervisor(settings=local_settings, log_dir=tmp_path / "logs", on_line=lines.append)
    group.add(real_spec("ps-0", synthetic.pid_writer(pid_dir) + synthetic.SLEEP_FOREVER))
    waits_for_ps = f"import time, pathlib\nwhile not list(pathlib.Path({str(pid_dir)!r}).iterdir()): time.sleep(0.05)\n"
    group.add(real_spec("chief-0", waits_for_ps + "print('step 1'); print('done', flush=True)"), decisive=True)
    group.start()
    group.wait(timeout_s=60)
    (ps_pid,) = synthetic.recorded_pids(pid_dir)
    assert synthetic.pid_gone(ps_pid)
    assert lines == ["chief-0 | step 1", "chief-0 | done"]
    assert group.log_path("chief-0").read_text() == "step 1\ndone\n"
    assert group.states() == {"ps-0": "stopped", "chief-0": "succeeded"}


def test_real_failure_raises_with_log_tail(local_settings: settings_module.Settings, tmp_path: pathlib.Path) -> None:
    group = supervisor.Supervisor(settings=local_settings, log_dir=tmp_path / "logs", on_line=lambda line: None)
    group.add(real_spec("worker-0", "import sys; print('bad input', file=sys.stderr); sys.exit(3)"), decisive=True)
    group.start()
    with pytest.raises(errors.ProcessFailed) as failed:
        group.wait(timeout_s=60)
    assert failed.value.exit_code == 3
    assert failed.value.tail == "bad input"
    assert pathlib.Path(str(failed.value.log_path)).read_text() == "bad input\n"


def test_real_child_ignoring_sigterm_is_killed(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    source = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
    events: list[tuple[str, str, int]] = []
    group = supervisor.Supervisor(
        settings=local_settings,
        log_dir=tmp_path / "logs",
        on_line=lambda line: None,
        on_event=lambda *event: events.append(event),
    )
    group.add(real_spec("ps-0", source + synthetic.SLEEP_FOREVER))
    group.start()
    deadline = time.monotonic() + synthetic.GONE_TIMEOUT_S
    while "ready" not in group.log_path("ps-0").read_text() and time.monotonic() < deadline:
        assert group.poll() == "running"
        time.sleep(0.05)
    started = time.monotonic()
    group.stop()
    assert time.monotonic() - started >= local_settings.stop_grace_s
    assert events[-1] == ("ps-0", "stopped", 128 + signal.SIGKILL)


def test_keyboard_interrupt_leaves_no_orphans(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path, pid_dir: pathlib.Path
) -> None:
    def interrupt(line: str) -> None:
        raise KeyboardInterrupt

    with (
        pytest.raises(KeyboardInterrupt),
        supervisor.Supervisor(settings=local_settings, log_dir=tmp_path / "logs", on_line=interrupt) as group,
    ):
        source = synthetic.pid_writer(pid_dir) + "print('x', flush=True)\n" + synthetic.SLEEP_FOREVER
        group.add(real_spec("worker-0", source))
        group.start()
        group.wait(timeout_s=60)
    (pid,) = synthetic.recorded_pids(pid_dir)
    assert synthetic.pid_gone(pid)
