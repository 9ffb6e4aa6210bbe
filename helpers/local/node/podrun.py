"""Run one pod's containers as local processes: init containers in order, sidecars, then the main ones.

Each container runs under its own `Supervisor` (so a container's restarts and exit code are its
own), restarted per the pod's restartPolicy with the supervisor's backoff. Output goes to one log
file per container instance in the CRI format (`<RFC 3339 time> stdout F <line>`), so the log
endpoint can answer `previous`, `timestamps` and `sinceSeconds` like a kubelet. Probes are run
against the pod's address. The clock, wall clock, Popen factory and prober are arguments so tests
can script whole histories.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import pathlib
import subprocess
import time
from collections.abc import Callable
from typing import Any

from helpers import errors, settings as settings_module
from helpers.local import pids, restarts, supervisor
from helpers.local.node import podplan, probing

logger = logging.getLogger(__name__)

# The exit code and reason a container runtime reports when it cannot start a container.
START_ERROR_CODE = 128
WallClock = Callable[[], datetime.datetime]


def rfc3339(moment: datetime.datetime, *, nanos: bool = False) -> str:
    """`moment` as Kubernetes writes times (`...Z`), with nanoseconds for log lines."""
    moment = moment.astimezone(datetime.UTC)
    if nanos:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond * 1000:09d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass
class ContainerRun:
    """One container's life on the node: what the kubelet reports in a containerStatus."""

    plan: podplan.ContainerPlan
    group: supervisor.Supervisor | None = None
    state: str = "waiting"
    """waiting, running or terminated."""
    waiting_reason: str = "ContainerCreating"
    waiting_message: str = ""
    restart_count: int = 0
    pid: int = 0
    started_at: str = ""
    finished_at: str = ""
    exit_code: int = 0
    last_terminated: dict[str, Any] | None = None
    ready: bool = False
    started: bool = False
    outcome: str = ""
    """"" while it may still run; succeeded or failed once it never will."""
    instances: list[pathlib.Path] = dataclasses.field(default_factory=list)
    probe_due: dict[str, float] = dataclasses.field(default_factory=dict)
    probe_failures: dict[str, int] = dataclasses.field(default_factory=dict)

    def terminated(self) -> dict[str, Any]:
        """The `terminated` state of the last instance."""
        reason = "Completed" if self.exit_code == 0 else "Error"
        if self.plan.process is None:
            reason = "StartError"
        state: dict[str, Any] = {"exitCode": self.exit_code, "reason": reason, "finishedAt": self.finished_at}
        if self.started_at:
            state["startedAt"] = self.started_at
        if self.plan.start_error:
            state["message"] = self.plan.start_error
        if self.pid:
            state["containerID"] = f"local://{self.pid}"
        return state


class PodRunner:
    """Runs one pod; `tick` advances it, `stop` ends it, `container_runs` tells its state."""

    def __init__(
        self,
        pod: dict[str, Any],
        plans: list[podplan.ContainerPlan],
        *,
        settings: settings_module.Settings,
        pod_ip: str,
        log_dir: pathlib.Path,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: WallClock = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
        popen: supervisor.PopenFactory = subprocess.Popen,
        kill_group: Callable[[int, int], None] = pids.signal_group,
        prober: probing.Prober = probing.probe,
    ) -> None:
        self.pod = pod
        self.pod_ip = pod_ip
        self.uid: str = pod["metadata"]["uid"]
        self.policy: restarts.RestartPolicy = pod.get("spec", {}).get("restartPolicy") or "Always"
        self.log_dir = log_dir
        self._settings = settings
        self._clock, self._wall_clock, self._sleep = clock, wall_clock, sleep
        self._popen, self._kill_group, self._prober = popen, kill_group, prober
        self.runs = {plan.name: ContainerRun(plan) for plan in plans}
        self.start_time = rfc3339(wall_clock())
        self.stopping = False
        self.stopped = False

    # --- starting and following containers -------------------------------------------------

    def _policy_for(self, run: ContainerRun) -> restarts.RestartPolicy:
        if run.plan.kind == "sidecar":
            return "Always"
        if run.plan.kind == "init":
            return "Never" if self.policy == "Never" else "OnFailure"
        return self.policy

    def _start(self, run: ContainerRun) -> None:
        if run.plan.process is None:
            self._start_error(run)
            return
        name = run.plan.name

        def _line(line: str) -> None:
            self._on_line(run, line)

        def _event(_name: str, event: str, detail: int) -> None:
            self._on_event(run, event, detail)

        group = supervisor.Supervisor(
            settings=self._settings,
            log_dir=self.log_dir / name / "raw",
            on_line=_line,
            on_event=_event,
            clock=self._clock,
            sleep=self._sleep,
            popen=self._popen,
            kill_group=self._kill_group,
        )
        group.add(run.plan.process, restart_policy=self._policy_for(run))
        run.group = group
        try:
            group.start()
        except errors.ProcessFailed as e:
            run.plan = dataclasses.replace(run.plan, process=None, start_error=e.tail or str(e))
            run.group = None
            self._start_error(run)

    def _start_error(self, run: ContainerRun) -> None:
        """A container that cannot start: terminated with StartError, or waiting in back-off if it would restart."""
        run.exit_code = START_ERROR_CODE
        run.finished_at = run.finished_at or rfc3339(self._wall_clock())
        if restarts.retryable(self._policy_for(run), START_ERROR_CODE):
            run.last_terminated = run.terminated()
            run.state, run.waiting_reason, run.waiting_message = "waiting", "CrashLoopBackOff", run.plan.start_error
            run.outcome = "blocked"
        else:
            run.state, run.outcome = "terminated", "failed"

    def _on_line(self, run: ContainerRun, line: str) -> None:
        text = line.split(" | ", 1)[1] if " | " in line else line
        if not run.instances:
            return
        with run.instances[-1].open("a", encoding="utf-8") as log:
            log.write(f"{rfc3339(self._wall_clock(), nanos=True)} stdout F {text}\n")

    def _on_event(self, run: ContainerRun, event: str, detail: int) -> None:
        now = rfc3339(self._wall_clock())
        if event == "started":
            if run.instances:
                run.restart_count += 1
            instance = self.log_dir / run.plan.name / f"{len(run.instances)}.log"
            instance.parent.mkdir(parents=True, exist_ok=True)
            instance.write_text("")
            run.instances.append(instance)
            run.state, run.pid, run.started_at, run.finished_at = "running", detail, now, ""
            run.started = run.plan.startup is None
            run.ready = False
            run.probe_due, run.probe_failures = {}, {}
        elif event in ("exited", "stopped"):
            run.state, run.exit_code, run.finished_at, run.ready = "terminated", detail, now, False
        elif event == "restarting":
            run.last_terminated = run.terminated()
            run.state, run.waiting_reason, run.waiting_message = "waiting", "CrashLoopBackOff", ""
            run.waiting_message = f"back-off restarting failed container {run.plan.name}"

    def _poll(self, run: ContainerRun) -> None:
        if run.group is None or run.outcome:
            return
        outcome = run.group.poll()
        if outcome in ("succeeded", "failed") and run.group.states()[run.plan.name] in ("succeeded", "failed"):
            run.outcome = outcome

    # --- probes ------------------------------------------------------------------------------

    def _probe(self, run: ContainerRun) -> None:
        if run.state != "running":
            return
        for key, probe in (("startup", run.plan.startup), ("readiness", run.plan.readiness)):
            if probe is None or (key == "readiness" and not run.started) or (key == "startup" and run.started):
                continue
            now = self._clock()
            due = run.probe_due.setdefault(key, now + probe.initial_delay_s)
            if now < due:
                continue
            run.probe_due[key] = now + probe.period_s
            passed = self._prober(probe, self.pod_ip)
            if key == "startup":
                run.started = passed
            else:
                failures = 0 if passed else run.probe_failures.get(key, 0) + 1
                run.probe_failures[key] = failures
                if passed:
                    run.ready = True
                elif failures >= probe.failure_threshold:
                    run.ready = False
        if run.plan.readiness is None:
            run.ready = run.started

    # --- the pod as a whole ----------------------------------------------------------------

    def initialized(self) -> bool:
        """True when every init container succeeded and every sidecar has started."""
        for run in self.runs.values():
            if run.plan.kind == "init" and run.outcome != "succeeded":
                return False
            if run.plan.kind == "sidecar" and not run.started:
                return False
        return True

    def tick(self) -> None:
        """Advance the pod one step: start what is due, follow exits and restarts, run probes."""
        if self.stopping:
            return
        for run in self.runs.values():
            if run.plan.kind == "main":
                continue
            if run.group is None and not run.outcome:
                self._start(run)
            self._poll(run)
            self._probe(run)
            if run.plan.kind == "init" and run.outcome != "succeeded":
                return  # init containers run one at a time, in order
            if run.plan.kind == "sidecar" and not run.started:
                return
        for run in self.runs.values():
            if run.plan.kind != "main":
                continue
            if run.group is None and not run.outcome:
                self._start(run)
            self._poll(run)
            self._probe(run)
        if self.phase() in ("Succeeded", "Failed"):
            self._stop_sidecars()

    def _stop_sidecars(self) -> None:
        for run in self.runs.values():
            if run.plan.kind == "sidecar" and run.group is not None and run.state == "running":
                run.group.stop(grace_s=self._grace_s())
                run.outcome = "succeeded"

    def _grace_s(self) -> float:
        return float(self.pod.get("spec", {}).get("terminationGracePeriodSeconds", 30))

    def phase(self) -> str:
        """The pod phase the kubelet would report now."""
        mains = [run for run in self.runs.values() if run.plan.kind == "main"]
        inits = [run for run in self.runs.values() if run.plan.kind == "init"]
        if any(run.outcome == "failed" for run in inits):
            return "Failed"
        if mains and all(run.outcome in ("succeeded", "failed") for run in mains):
            return "Succeeded" if all(run.outcome == "succeeded" for run in mains) else "Failed"
        if self.stopped:
            return "Failed" if self.policy != "Always" or not mains else "Succeeded"
        if any(run.state == "running" or run.restart_count or run.outcome for run in mains):
            return "Running"
        return "Pending"

    def stop(self, grace_s: float | None = None) -> None:
        """Stop every container (SIGTERM, `grace_s` or the pod's grace period, SIGKILL); blocks meanwhile."""
        self.stopping = True
        grace = self._grace_s() if grace_s is None else grace_s
        for run in reversed(list(self.runs.values())):
            if run.group is not None:
                run.group.stop(grace_s=grace)
                run.outcome = run.outcome or ("succeeded" if run.exit_code == 0 else "failed")
        self.stopped = True
