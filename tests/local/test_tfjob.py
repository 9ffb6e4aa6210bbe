"""tfjob: TF_CONFIG as the operator builds it, and whole TFJobs run with tiny `python -c` replicas."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.local import pids, services, tfjob

from . import synthetic


def cluster_of(job: str, ns: str, **replicas: int) -> dict[str, list[str]]:
    return {t: [f"{job}-{t}-{i}.{ns}.svc:2222" for i in range(n)] for t, n in replicas.items()}


@pytest.mark.parametrize(
    ("replicas", "task_type", "task_index", "cluster"),
    [
        ({"Chief": 1, "PS": 1, "Worker": 2}, "Worker", 1, cluster_of("mnist", "ns", chief=1, ps=1, worker=2)),
        ({"PS": 2, "Worker": 3}, "PS", 1, cluster_of("mnist", "ns", ps=2, worker=3)),
        ({"Worker": 4}, "Worker", 3, cluster_of("mnist", "ns", worker=4)),
        (
            {"Chief": 1, "Worker": 1, "Evaluator": 1},
            "Evaluator",
            0,
            cluster_of("mnist", "ns", chief=1, worker=1, evaluator=1),
        ),
        ({"chief": 1, "WORKER": 1}, "CHIEF", 0, cluster_of("mnist", "ns", chief=1, worker=1)),
    ],
)
def test_tf_config_topologies(
    replicas: dict[str, int], task_type: str, task_index: int, cluster: dict[str, list[str]]
) -> None:
    config = tfjob.tf_config(
        job_name="mnist", namespace="ns", replicas=replicas, task_type=task_type, task_index=task_index
    )
    assert config == {
        "cluster": cluster,
        "task": {"type": task_type.lower(), "index": task_index},
        "environment": "cloud",
    }


@pytest.mark.parametrize("replicas", [{"Worker": 1}, {"Chief": 1, "PS": 0}])
def test_tf_config_is_not_set_for_a_single_replica(replicas: dict[str, int]) -> None:
    assert tfjob.tf_config(job_name="j", namespace="n", replicas=replicas, task_type="Worker", task_index=0) is None


def test_tf_config_uses_local_addresses_when_given() -> None:
    addresses = {"ps": ["127.0.0.1:40001"], "worker": ["127.0.0.1:40002", "127.0.0.1:40003"]}
    config = tfjob.tf_config(
        job_name="j", namespace="n", replicas={"PS": 1, "Worker": 2}, task_type="PS", task_index=0, addresses=addresses
    )
    assert config is not None and config["cluster"] == addresses


def condition_types(status: tfjob.TFJobStatus, *, true: bool = True) -> list[str]:
    return [c["type"] for c in status.conditions if (c["status"] == "True") is true]


def test_chief_ps_workers_succeed_and_everything_stops(
    local_settings: settings_module.Settings, pid_dir: pathlib.Path
) -> None:
    writer = synthetic.pid_writer(pid_dir)
    waits = f"import time, pathlib\nwhile len(list(pathlib.Path({str(pid_dir)!r}).iterdir())) < 4: time.sleep(0.05)\n"
    job = synthetic.tfjob(
        "mnist-train",
        {
            "Chief": synthetic.replica(writer + waits + "print('chief done')"),
            "PS": synthetic.replica(writer + synthetic.SLEEP_FOREVER),
            "worker": synthetic.replica(writer + synthetic.SLEEP_FOREVER, replicas=2),
        },
    )
    lines: list[str] = []
    status = tfjob.run(job, settings=local_settings, on_line=lines.append, timeout_s=120)

    assert status.succeeded
    assert condition_types(status) == ["Created", "Succeeded"]
    assert condition_types(status, true=False) == ["Running"]
    assert status.replica_statuses == {
        "Chief": {"active": 0, "succeeded": 1, "failed": 0},
        "PS": {"active": 0, "succeeded": 0, "failed": 0},
        "Worker": {"active": 0, "succeeded": 0, "failed": 0},
    }
    assert "chief-0 | chief done" in lines
    for pid in synthetic.recorded_pids(pid_dir):
        assert synthetic.pid_gone(pid), f"replica pid {pid} outlived the job"
    configs = {path.stem: json.loads(path.read_text()) for path in pid_dir.iterdir()}
    assert set(configs) == {"chief-0", "ps-0", "worker-0", "worker-1"}
    cluster = configs["worker-1"]["cluster"]
    assert sorted(cluster) == ["chief", "ps", "worker"] and len(cluster["worker"]) == 2
    assert all(address.startswith("127.0.0.1:") for addresses in cluster.values() for address in addresses)
    assert configs["worker-1"]["task"] == {"type": "worker", "index": 1}
    assert all(config["cluster"] == cluster for config in configs.values())

    directory = tfjob.job_dir("mnist-train", settings=local_settings)
    assert sorted(path.name for path in directory.iterdir()) == [
        "chief-0.log",
        "ps-0.log",
        "status.json",
        "worker-0.log",
        "worker-1.log",
    ]
    assert (directory / "chief-0.log").read_text() == "chief done\n"
    assert tfjob.read_status("mnist-train", settings=local_settings) == status.to_dict()
    assert services.read(local_settings) == {}


def test_worker_zero_decides_without_a_chief(local_settings: settings_module.Settings, pid_dir: pathlib.Path) -> None:
    source = synthetic.pid_writer(pid_dir) + (
        "import os, json, time\n"
        "if json.loads(os.environ['TF_CONFIG'])['task']['index'] == 0: raise SystemExit(0)\n"
        "while True: time.sleep(1)\n"
    )
    job = synthetic.tfjob("no-chief", {"Worker": synthetic.replica(source, replicas=2)})
    status = tfjob.run(job, settings=local_settings, timeout_s=120)
    assert status.succeeded
    assert status.replica_statuses["Worker"] == {"active": 0, "succeeded": 1, "failed": 0}


def test_single_replica_gets_no_tf_config(local_settings: settings_module.Settings) -> None:
    job = synthetic.tfjob("single", {"Worker": synthetic.replica("import os; print('TF_CONFIG' in os.environ)")})
    lines: list[str] = []
    assert tfjob.run(job, settings=local_settings, on_line=lines.append, timeout_s=60).succeeded
    assert lines == ["worker-0 | False"]


def crash_once(marker: pathlib.Path, exit_code: int) -> str:
    return (
        "import pathlib, sys\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        f"if not marker.exists(): marker.write_text('crashed'); print('crashing'); sys.exit({exit_code})\n"
        "print('second try')\n"
    )


def test_on_failure_restarts_a_crashed_replica(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    job = synthetic.tfjob(
        "restarts", {"Worker": synthetic.replica(crash_once(tmp_path / "marker", 1), restart_policy="OnFailure")}
    )
    status = tfjob.run(job, settings=local_settings, timeout_s=60)
    assert status.succeeded
    restarting = next(c for c in status.conditions if c["type"] == "Restarting")
    assert restarting["status"] == "False" and "exited with code 1" in restarting["message"]
    log = (tfjob.job_dir("restarts", settings=local_settings) / "worker-0.log").read_text()
    assert log == "crashing\n--- restart 1 after exit code 1 ---\nsecond try\n"


def test_never_fails_the_job(local_settings: settings_module.Settings, tmp_path: pathlib.Path) -> None:
    job = synthetic.tfjob("never", {"Worker": synthetic.replica(crash_once(tmp_path / "marker", 2))})
    status = tfjob.run(job, settings=local_settings, timeout_s=60, check=False)
    assert condition_types(status) == ["Created", "Failed"]
    assert status.conditions[-1]["reason"] == "TFJobFailed"
    assert "1 Worker replica(s) failed (exit code 2)" in status.conditions[-1]["message"]
    assert status.replica_statuses["Worker"] == {"active": 0, "succeeded": 0, "failed": 1}
    (tmp_path / "marker").unlink()
    with pytest.raises(errors.ProcessFailed, match="worker-0 exited with code 2") as failed:
        tfjob.run(job, settings=local_settings, timeout_s=60)
    assert failed.value.tail == "crashing"
    assert tfjob.read_status("never", settings=local_settings)["conditions"][-1]["type"] == "Failed"


@pytest.mark.parametrize(
    ("crash", "succeeds"),
    [
        ("sys.exit(1)", False),
        ("sys.exit(130)", True),
        ("os.kill(os.getpid(), signal.SIGKILL)", True),
    ],
)
def test_exit_code_policy(
    local_settings: settings_module.Settings, tmp_path: pathlib.Path, crash: str, succeeds: bool
) -> None:
    marker = tmp_path / "marker"
    source = (
        "import os, pathlib, signal, sys\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        f"if not marker.exists(): marker.write_text('x'); {crash}\n"
    )
    job = synthetic.tfjob("exit-code", {"Worker": synthetic.replica(source, restart_policy="ExitCode")})
    status = tfjob.run(job, settings=local_settings, timeout_s=60, check=False)
    assert status.succeeded is succeeds
    assert ("Restarting" in [c["type"] for c in status.conditions]) is succeeds


def test_backoff_limit_fails_the_job(local_settings: settings_module.Settings) -> None:
    replica = synthetic.replica("import sys; sys.exit(5)", restart_policy="OnFailure")
    job = synthetic.tfjob("backoff", {"Worker": replica}, backoffLimit=1)
    status = tfjob.run(job, settings=local_settings, timeout_s=60, check=False)
    assert status.conditions[-1]["type"] == "Failed"
    assert "reached the specified backoff limit" in status.conditions[-1]["message"]
    log = (tfjob.job_dir("backoff", settings=local_settings) / "worker-0.log").read_text()
    assert log.count("--- restart") == 1


def test_active_deadline_fails_the_job(local_settings: settings_module.Settings, pid_dir: pathlib.Path) -> None:
    source = synthetic.pid_writer(pid_dir) + synthetic.SLEEP_FOREVER
    job = synthetic.tfjob("deadline", {"Worker": synthetic.replica(source)}, activeDeadlineSeconds=2)
    status = tfjob.run(job, settings=local_settings, check=False)
    assert status.conditions[-1]["reason"] == "DeadlineExceeded"
    assert "active longer than specified deadline" in status.conditions[-1]["message"]
    assert all(synthetic.pid_gone(pid) for pid in synthetic.recorded_pids(pid_dir))


def test_timeout_raises_and_stops_replicas(local_settings: settings_module.Settings, pid_dir: pathlib.Path) -> None:
    source = synthetic.pid_writer(pid_dir) + synthetic.SLEEP_FOREVER
    job = synthetic.tfjob("slow", {"Worker": synthetic.replica(source)})
    with pytest.raises(errors.WaitTimeout):
        tfjob.run(job, settings=local_settings, timeout_s=2)
    assert all(synthetic.pid_gone(pid) for pid in synthetic.recorded_pids(pid_dir))


def test_interrupt_leaves_no_orphans(local_settings: settings_module.Settings, pid_dir: pathlib.Path) -> None:
    source = synthetic.pid_writer(pid_dir) + "print('ready', flush=True)\n" + synthetic.SLEEP_FOREVER
    job = synthetic.tfjob("interrupted", {"Chief": synthetic.replica(source), "PS": synthetic.replica(source)})

    def interrupt(line: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tfjob.run(job, settings=local_settings, on_line=interrupt, timeout_s=60)
    assert synthetic.recorded_pids(pid_dir)
    assert all(synthetic.pid_gone(pid) for pid in synthetic.recorded_pids(pid_dir))
    status = tfjob.read_status("interrupted", settings=local_settings)
    assert status["conditions"][-1]["type"] == "Failed" and "interrupted" in status["conditions"][-1]["message"]


def test_rerun_replaces_leftovers_of_a_killed_kernel(local_settings: settings_module.Settings) -> None:
    leftover = subprocess.Popen(
        [sys.executable, "-c", synthetic.SLEEP_FOREVER], start_new_session=True, stdout=subprocess.DEVNULL
    )
    try:
        directory = tfjob.job_dir("again", settings=local_settings)
        directory.mkdir(parents=True)
        (directory / "old.log").write_text("old")
        (directory / tfjob.PIDS_FILE).write_text(json.dumps({"ps-0": pids.record(leftover.pid, [])}))
        job = synthetic.tfjob("again", {"Worker": synthetic.replica("print('new run')")})
        assert tfjob.run(job, settings=local_settings, timeout_s=60).succeeded
        assert leftover.wait(timeout=10) == -signal.SIGTERM
        assert not (directory / "old.log").exists()
    finally:
        synthetic.kill_if_alive(leftover.pid)
        leftover.wait()


def test_stale_pid_record_never_signals_an_unrelated_process(local_settings: settings_module.Settings) -> None:
    unrelated = subprocess.Popen([sys.executable, "-c", synthetic.SLEEP_FOREVER], start_new_session=True)
    try:
        record: pids.ProcessRecord = {"pid": unrelated.pid, "started": "1", "argv": []}
        assert pids.stop(record, grace_s=0.1) is False
        assert unrelated.poll() is None
    finally:
        os.killpg(unrelated.pid, signal.SIGKILL)
        unrelated.wait()


@pytest.mark.parametrize(
    ("tfjob_spec", "parameter"),
    [
        ({"Launcher": {}}, "tfReplicaSpecs"),
        ({}, "tfReplicaSpecs"),
        ({"Worker": {"template": {"spec": {"containers": [{"name": "main", "image": "x"}]}}}}, "Worker.containers"),
        ({"Worker": {"restartPolicy": "Sometimes", **synthetic.replica("pass")}}, "restartPolicy"),
    ],
)
def test_unusable_specs_raise_config_error(
    local_settings: settings_module.Settings, tfjob_spec: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(errors.ConfigError) as refused:
        tfjob.run(synthetic.tfjob("bad", tfjob_spec), settings=local_settings, timeout_s=10)
    assert refused.value.parameter == parameter


def test_sigterm_to_the_runner_leaves_no_orphans(
    local_settings: settings_module.Settings, pid_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    # The runner stands in for a notebook kernel that papermill or Jupyter terminates mid-training.
    source = synthetic.pid_writer(pid_dir) + synthetic.SLEEP_FOREVER
    job = synthetic.tfjob("terminated", {"Chief": synthetic.replica(source), "PS": synthetic.replica(source)})
    (tmp_path / "job.json").write_text(json.dumps(job))
    runner_source = (
        "import json, sys\n"
        "from helpers import settings\n"
        "from helpers.local import tfjob\n"
        f"s = settings.load(backend='local', state_dir={str(local_settings.state_dir)!r}, stop_grace_s=1)\n"
        f"tfjob.run(json.loads(open({str(tmp_path / 'job.json')!r}).read()), settings=s, timeout_s=60)\n"
    )
    runner = subprocess.Popen([sys.executable, "-c", runner_source], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while len(synthetic.recorded_pids(pid_dir)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.send_signal(signal.SIGTERM)
        _, stderr = runner.communicate(timeout=30)
    finally:
        runner.kill()
        runner.wait()
        for pid in synthetic.recorded_pids(pid_dir):
            if not synthetic.pid_gone(pid, timeout_s=1):
                synthetic.kill_if_alive(pid)
    assert b"KeyboardInterrupt" in stderr
    assert len(synthetic.recorded_pids(pid_dir)) == 2
    assert all(synthetic.pid_gone(pid) for pid in synthetic.recorded_pids(pid_dir))
    status = tfjob.read_status("terminated", settings=local_settings)
    assert status["conditions"][-1]["type"] == "Failed"
