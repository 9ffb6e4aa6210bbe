"""PodRunner and pod status: scripted container histories with a fake clock and Popen."""

from __future__ import annotations

import datetime
import pathlib
import signal
from typing import Any

from helpers import settings as settings_module
from helpers.local import supervisor
from helpers.local.node import podplan, podrun, podstatus

from .test_supervisor import FakeClock, Script


def _plan(name: str, kind: podplan.ContainerKind = "main", **options: Any) -> podplan.ContainerPlan:
    process = supervisor.ProcessSpec(name=name, argv=[name], env={})
    return podplan.ContainerPlan(name=name, image="img", kind=kind, process=process, **options)


def _runner(
    settings: settings_module.Settings,
    tmp_path: pathlib.Path,
    plans: list[podplan.ContainerPlan],
    script: Script,
    clock: FakeClock,
    *,
    policy: str = "OnFailure",
    prober: Any = None,
) -> podrun.PodRunner:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {"restartPolicy": policy}}
    return podrun.PodRunner(
        pod,
        plans,
        settings=settings,
        pod_ip="127.0.0.9",
        log_dir=tmp_path / "logs",
        clock=clock,
        wall_clock=lambda: datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=clock.now),
        sleep=clock.sleep,
        popen=script.popen,
        kill_group=script.kill_group,
        prober=prober or (lambda probe, ip: True),
    )


def _run(runner: podrun.PodRunner, clock: FakeClock, *, seconds: float) -> None:
    end = clock.now + seconds
    while clock.now < end:
        runner.tick()
        clock.sleep(0.1)


def _status(runner: podrun.PodRunner) -> dict[str, Any]:
    return podstatus.of_runner(runner, host_ip="127.0.0.1", now="2026-01-01T00:00:00Z", previous={})


def test_crash_then_success_counts_a_restart_and_keeps_the_last_state(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    clock = FakeClock()
    script = Script(clock, {"tensorflow": [(1.0, 1), (1.0, 0)]})
    runner = _runner(local_settings, tmp_path, [_plan("tensorflow")], script, clock)
    runner.tick()
    assert runner.phase() == "Running"
    running = _status(runner)
    assert running["podIP"] == "127.0.0.9" and running["hostIP"] == "127.0.0.1"
    assert running["containerStatuses"][0]["state"]["running"]["startedAt"] == "2026-01-01T00:00:00Z"
    assert {c["type"]: c["status"] for c in running["conditions"]}["Ready"] == "True"
    _run(runner, clock, seconds=5)
    status = _status(runner)
    assert status["phase"] == "Succeeded"
    container = status["containerStatuses"][0]
    assert container["restartCount"] == 1
    assert container["lastState"]["terminated"]["exitCode"] == 1
    assert container["state"]["terminated"]["reason"] == "Completed"
    assert {c["type"]: c.get("reason") for c in status["conditions"]}["Ready"] == "PodCompleted"
    assert [path.name for path in runner.runs["tensorflow"].instances] == ["0.log", "1.log"]
    first = runner.runs["tensorflow"].instances[0].read_text()
    assert first.endswith("stdout F hello from 5000000\n")


def test_never_fails_the_pod_on_the_first_error(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    clock = FakeClock()
    script = Script(clock, {"tensorflow": [(0.5, 3)]})
    runner = _runner(local_settings, tmp_path, [_plan("tensorflow")], script, clock, policy="Never")
    _run(runner, clock, seconds=3)
    status = _status(runner)
    assert status["phase"] == "Failed"
    assert status["containerStatuses"][0]["state"]["terminated"] == {
        "exitCode": 3, "reason": "Error", "finishedAt": "2026-01-01T00:00:00Z",
        "startedAt": "2026-01-01T00:00:00Z", "containerID": "local://5000000",
    }  # fmt: skip


def test_always_restarts_even_after_success(local_settings: settings_module.Settings, tmp_path: pathlib.Path) -> None:
    clock = FakeClock()
    script = Script(clock, {"server": [(0.5, 0), (None, 0)]})
    runner = _runner(local_settings, tmp_path, [_plan("server")], script, clock, policy="Always")
    _run(runner, clock, seconds=3)
    assert runner.phase() == "Running"
    assert runner.runs["server"].restart_count == 1


def test_an_unrunnable_container_is_a_start_error(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    clock = FakeClock()
    plan = podplan.ContainerPlan(
        name="kaniko", image="kaniko", kind="main", process=None, start_error="no local kaniko"
    )
    runner = _runner(local_settings, tmp_path, [plan], Script(clock, {}), clock, policy="Never")
    runner.tick()
    terminated = _status(runner)["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"], terminated["message"]) == (
        "StartError",
        128,
        "no local kaniko",
    )
    assert runner.phase() == "Failed"


def test_init_container_then_sidecar_then_main_and_sidecar_stops_at_the_end(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    clock = FakeClock()
    script = Script(clock, {"setup": [(0.5, 0)], "s3-sync": [(None, 0)], "main": [(1.0, 0)]})
    plans = [_plan("setup", "init"), _plan("s3-sync", "sidecar"), _plan("main")]
    runner = _runner(local_settings, tmp_path, plans, script, clock, policy="Never")
    runner.tick()
    assert script.launches == ["setup"] and runner.phase() == "Pending"
    _run(runner, clock, seconds=3)
    assert script.launches == ["setup", "s3-sync", "main"]
    status = _status(runner)
    assert status["phase"] == "Succeeded"
    assert [s["name"] for s in status["initContainerStatuses"]] == ["setup", "s3-sync"]
    assert status["initContainerStatuses"][1]["state"]["terminated"]["exitCode"] == 128 + signal.SIGTERM


def test_readiness_follows_the_probe(local_settings: settings_module.Settings, tmp_path: pathlib.Path) -> None:
    clock = FakeClock()
    answers = iter([False, False, True])
    probe = podplan.Probe(kind="http", port=8501, path="/v1/models/mnist", period_s=1.0)
    plan = _plan("serving", readiness=probe)
    seen: list[tuple[int, str]] = []

    def prober(spec: podplan.Probe, ip: str) -> bool:
        seen.append((spec.port, ip))
        return next(answers, True)

    runner = _runner(local_settings, tmp_path, [plan], Script(clock, {"serving": [(None, 0)]}), clock, prober=prober)
    runner.tick()
    assert not _status(runner)["containerStatuses"][0]["ready"]
    _run(runner, clock, seconds=2.5)
    assert _status(runner)["containerStatuses"][0]["ready"]
    assert seen[0] == (8501, "127.0.0.9")


def test_stop_sends_sigterm_then_reports_the_exit(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    clock = FakeClock()
    script = Script(clock, {"ps": [(None, 0)]}, ignores_term={"ps"})
    runner = _runner(local_settings, tmp_path, [_plan("ps")], script, clock, policy="OnFailure")
    runner.tick()
    runner.stop(grace_s=2.0)
    assert [signum for _, signum in script.signals] == [signal.SIGTERM, signal.SIGKILL]
    assert clock.now >= 2.0  # the grace period was waited
    status = _status(runner)
    assert status["phase"] == "Failed"
    assert status["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 128 + signal.SIGKILL
