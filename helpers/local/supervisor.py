"""Run a group of local processes like a tiny kubelet: start, stream, restart, stop.

Modelled on honcho's Manager: each child runs in its own session with stderr merged into
stdout; its lines are kept in a per-process log file and streamed, prefixed with its name,
to a callback. A child that fails for good stops the group; stopping sends SIGTERM to each
process group, waits `settings.stop_grace_s`, then SIGKILL. The clock, sleep, Popen factory,
group-kill and port picker are constructor arguments so tests can script whole histories.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import pathlib
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any, Protocol

from helpers import errors, settings as settings_module
from helpers.local import pids, ports, restarts

logger = logging.getLogger(__name__)

# How often the wait loop polls children; short enough that a finished job ends promptly,
# long enough not to burn a shared CPU.
POLL_INTERVAL_S = 0.05
# First pause before restarting a crashed child, doubled per restart of that child up to the
# cap. The kubelet starts at 10 s; locally there is no image pull or scheduling to wait for.
RESTART_DELAY_S = 0.5
MAX_RESTART_DELAY_S = 10.0
# Lines of a failed child's log quoted in ProcessFailed.
TAIL_LINES = 20
# Seconds to wait for a reader thread to drain a child's output after the child is gone.
READER_JOIN_S = 5.0
OnLine = Callable[[str], None]
# (child name, event, detail): events are "started" (detail = pid), "exited" (exit code),
# "restarting" (exit code) and "stopped" (exit code).
OnEvent = Callable[[str, str, int], None]


class Process(Protocol):
    """What the supervisor needs of a child: `subprocess.Popen`, or a scripted stand-in in tests."""

    @property
    def pid(self) -> int: ...

    @property
    def stdout(self) -> IO[bytes] | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


PopenFactory = Callable[..., Process]


@dataclasses.dataclass(frozen=True)
class ProcessSpec:
    """What to run for one child: its name (the log prefix), argv, full environment and folder."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: pathlib.Path | None = None


@dataclasses.dataclass
class _Child:
    spec: ProcessSpec
    restart_policy: restarts.RestartPolicy
    decisive: bool
    log_path: pathlib.Path
    process: Process | None = None
    reader: threading.Thread | None = None
    restarts: int = 0
    restart_at: float | None = None
    exit_code: int | None = None
    state: str = "pending"


def launch(
    spec: ProcessSpec, *, stdout: int | IO[bytes], log_path: pathlib.Path, popen: PopenFactory = subprocess.Popen
) -> Process:
    """Start `spec` in its own session (so its group can be signalled) with stderr merged into `stdout`.

    Raises ProcessFailed with exit code 127 (a shell's "cannot run") naming `log_path` when it cannot start.
    """
    try:
        return popen(
            spec.argv,
            env=spec.env,
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as e:
        raise errors.ProcessFailed(spec.name, 127, log_path=str(log_path), tail=str(e)) from e


def tail(path: pathlib.Path, *, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of a log file; empty when it does not exist."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while the block runs, so `finally` clean-up happens.

    Only a top-level runner uses this, and only in the main thread (where Python allows handlers).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Supervisor:
    """Starts children, streams their output, restarts them by policy and stops them all."""

    def __init__(
        self,
        *,
        settings: settings_module.Settings,
        log_dir: pathlib.Path,
        on_line: OnLine | None = None,
        on_event: OnEvent | None = None,
        backoff_limit: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        popen: PopenFactory = subprocess.Popen,
        kill_group: Callable[[int, int], None] = pids.signal_group,
        port_picker: ports.PortPicker = ports.free_port,
        restart_delay_s: float = RESTART_DELAY_S,
    ) -> None:
        self._settings = settings
        self._log_dir = pathlib.Path(log_dir)
        self._on_line = on_line or (lambda line: logger.info("%s", line))
        self._on_event = on_event or (lambda name, event, detail: None)
        self._backoff_limit = backoff_limit
        self._clock = clock
        self._sleep = sleep
        self._popen = popen
        self._kill_group = kill_group
        self._port_picker = port_picker
        self._restart_delay_s = restart_delay_s
        self._children: dict[str, _Child] = {}
        self._lines: queue.Queue[str] = queue.Queue()
        self._ports: set[int] = set()
        self.restarts_total = 0
        self.failed_child: str | None = None

    def pick_port(self) -> int:
        """A free loopback port not yet handed out by this supervisor."""
        while (port := self._port_picker()) in self._ports:
            pass
        self._ports.add(port)
        return port

    def add(
        self, spec: ProcessSpec, *, restart_policy: restarts.RestartPolicy = "Never", decisive: bool = False
    ) -> None:
        """Add a child; when a `decisive` child exits 0 the group is done. Raises ConfigError for a
        duplicate name or an unknown restart policy."""
        if spec.name in self._children:
            raise errors.ConfigError("name", spec.name, "another process in this group already has that name")
        if restart_policy not in restarts.RESTART_POLICIES:
            raise errors.ConfigError(
                "restartPolicy", restart_policy, f"must be one of {list(restarts.RESTART_POLICIES)}"
            )
        log_path = self._log_dir / f"{spec.name}.log"
        self._children[spec.name] = _Child(spec, restart_policy, decisive, log_path)

    def log_path(self, name: str) -> pathlib.Path:
        """The log file of child `name`."""
        return self._children[name].log_path

    def states(self) -> dict[str, str]:
        """Each child's state: pending, running, restarting, succeeded, failed or stopped."""
        return {name: child.state for name, child in self._children.items()}

    def start(self) -> None:
        """Start every child that has not started yet (log files start empty)."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        for child in self._children.values():
            if child.state == "pending":
                child.log_path.write_text("")
                self._launch(child)

    def _launch(self, child: _Child) -> None:
        spec = child.spec
        try:
            process = launch(spec, stdout=subprocess.PIPE, log_path=child.log_path, popen=self._popen)
        except errors.ProcessFailed:
            self.stop()
            raise
        child.process, child.state, child.exit_code, child.restart_at = process, "running", None, None
        child.reader = threading.Thread(target=self._read, args=(child, process), daemon=True)
        child.reader.start()
        self._on_event(spec.name, "started", process.pid)

    def _read(self, child: _Child, process: Process) -> None:
        """Copy a child's output into its log file and the line queue (runs in a thread)."""
        if process.stdout is None:
            return
        with child.log_path.open("a", encoding="utf-8") as log, process.stdout:
            for raw in process.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                log.write(line + "\n")
                log.flush()
                self._lines.put(f"{child.spec.name} | {line}")

    def _drain(self) -> None:
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return
            self._on_line(line)

    def _finish_reader(self, child: _Child) -> None:
        if child.reader is not None:
            child.reader.join(READER_JOIN_S)
            child.reader = None

    def _on_exit(self, child: _Child, returncode: int) -> None:
        """Decide what a child's exit means: success, a restart, or a failure that ends the group."""
        code = restarts.exit_code_of(returncode)
        child.exit_code = code
        self._finish_reader(child)
        self._on_event(child.spec.name, "exited", code)
        if code == 0 and (child.decisive or child.restart_policy != "Always"):
            child.state = "succeeded"
            return
        if restarts.retryable(child.restart_policy, code):
            if self._backoff_limit is None or self.restarts_total < self._backoff_limit:
                delay = min(self._restart_delay_s * 2**child.restarts, MAX_RESTART_DELAY_S)
                child.state, child.restart_at = "restarting", self._clock() + delay
                self._on_event(child.spec.name, "restarting", code)
                return
            logger.warning("%s: backoff limit %s reached, not restarting", child.spec.name, self._backoff_limit)
        child.state = "failed"

    def _restart_due(self, child: _Child) -> None:
        if child.restart_at is not None and self._clock() >= child.restart_at:
            child.restarts += 1
            self.restarts_total += 1
            with child.log_path.open("a", encoding="utf-8") as log:
                log.write(f"--- restart {child.restarts} after exit code {child.exit_code} ---\n")
            self._launch(child)

    def poll(self) -> str:
        """Check every child once (restarting those due); returns "running", "succeeded" or "failed".

        After "failed", `failed_child` names the first child that failed for good.
        """
        self._drain()
        for child in self._children.values():
            if child.state == "running" and child.process is not None:
                returncode = child.process.poll()
                if returncode is not None:
                    self._on_exit(child, returncode)
            elif child.state == "restarting":
                self._restart_due(child)
            if child.state == "failed":
                self.failed_child = child.spec.name
                return "failed"
        self._drain()
        decisive = [child for child in self._children.values() if child.decisive]
        finished = [child for child in self._children.values() if child.state in ("succeeded", "failed")]
        if any(child.state == "succeeded" for child in decisive) or len(finished) == len(self._children):
            return "succeeded"
        return "running"

    def wait(self, *, timeout_s: float | None = None) -> None:
        """Run until the group succeeds; stops every child before returning or raising.

        The group succeeds when a decisive child exits 0, or when every child has exited 0.
        Raises ProcessFailed for the first child that failed for good (its log is complete by
        then) and WaitTimeout after `timeout_s`.
        """
        deadline = None if timeout_s is None else self._clock() + timeout_s
        try:
            while (outcome := self.poll()) == "running":
                if deadline is not None and self._clock() >= deadline:
                    raise errors.WaitTimeout(", ".join(self._children), timeout_s or 0.0, last_state=str(self.states()))
                self._sleep(POLL_INTERVAL_S)
        finally:
            self.stop()
        if outcome == "failed" and self.failed_child is not None:
            failed = self._children[self.failed_child]
            raise errors.ProcessFailed(
                failed.spec.name, failed.exit_code or 0, log_path=str(failed.log_path), tail=tail(failed.log_path)
            )

    def stop(self, *, grace_s: float | None = None) -> None:
        """Stop every running child: SIGTERM its group, wait the grace period, then SIGKILL. Idempotent.

        `grace_s` overrides `settings.stop_grace_s` (a pod's own termination grace period).
        """
        running = [(c, c.process) for c in self._children.values() if c.state == "running" and c.process is not None]
        for _, process in running:
            self._kill_group(process.pid, signal.SIGTERM)
        deadline = self._clock() + (self._settings.stop_grace_s if grace_s is None else grace_s)
        while any(process.poll() is None for _, process in running) and self._clock() < deadline:
            self._sleep(POLL_INTERVAL_S)
        for child, process in running:
            # Killing the group even after the leader exited also ends grandchildren it left behind.
            self._kill_group(process.pid, signal.SIGKILL)
            child.exit_code = restarts.exit_code_of(process.wait())
            child.state = "stopped"
            self._finish_reader(child)
            self._on_event(child.spec.name, "stopped", child.exit_code)
        for child in self._children.values():
            if child.state in ("pending", "restarting"):
                child.state = "stopped"
        self._drain()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
