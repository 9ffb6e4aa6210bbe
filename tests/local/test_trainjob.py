"""trainjob: a TrainJob and its runtime turned into TFJob replicas as Trainer v2.3 builds them, and run locally."""

from __future__ import annotations

import copy
import json
import pathlib
from typing import Any

import pytest

from helpers import backends, data, errors, settings as settings_module, training, workloads
from helpers.local import containers, tfjob, trainjob

from . import synthetic

# The repository's runtime, as an administrator installs it.
RUNTIME = workloads.training_runtime(settings=settings_module.Settings(backend="local"))


def trainjob_of(source: str, *, name: str = "mnist-train", workers: int = 2, **spec: Any) -> dict[str, Any]:
    """A TrainJob on the repository's runtime whose trainer runs `source` with `python -c` in every task."""
    trainer = {
        "image": "python:3.11-slim",
        "command": ["python"],
        "args": synthetic.script(source),
        "numNodes": workers,
        "env": [{"name": "TF_NUM_WORKERS", "value": str(workers)}],
    }
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {
            "runtimeRef": {
                "name": "tensorflow-ps",
                "apiGroup": "trainer.kubeflow.org",
                "kind": "ClusterTrainingRuntime",
            },
            "trainer": trainer,
            **spec,
        },
    }


def test_trainer_fields_reach_every_trainer_step_and_num_nodes_only_the_first() -> None:
    job = trainjob_of("print(1)", workers=3, activeDeadlineSeconds=600)
    job["spec"]["trainer"]["env"].append({"name": "GRPC_FAIL_FAST", "value": "off"})
    specs = trainjob.replica_specs(job, RUNTIME)

    assert list(specs) == ["Chief", "PS", "Worker"], "TF_CONFIG's order"
    assert {kind: spec["replicas"] for kind, spec in specs.items()} == {"Chief": 1, "PS": 1, "Worker": 3}
    for spec in specs.values():
        assert spec["restartPolicy"] == "OnFailure" and "restartPolicy" not in spec["template"]["spec"]
        (container,) = spec["template"]["spec"]["containers"]
        assert container["name"] == tfjob.CONTAINER_NAME and container["image"] == "python:3.11-slim"
        assert container["args"] == ["-c", "print(1)"]
        env = {item["name"]: item for item in container["env"]}
        assert env["TF_NUM_WORKERS"]["value"] == "3" and env["TF_NUM_PS"]["value"] == "1"
        assert env["GRPC_FAIL_FAST"]["value"] == "off", "the TrainJob's env wins, as Trainer's upsert does"
        assert env["JOBSET_NAME"]["valueFrom"]["fieldRef"]["fieldPath"].endswith("['jobset.sigs.k8s.io/jobset-name']")
        assert container["ports"] == [{"name": tfjob.PORT_NAME, "containerPort": 2222}]
    assert specs["PS"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "500m"
    as_tfjob = trainjob.as_tfjob(job, RUNTIME)
    assert as_tfjob["spec"]["runPolicy"] == {"backoffLimit": 3, "activeDeadlineSeconds": 600}
    assert RUNTIME["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["parallelism"] == 1, "no edits"


def make_runtime(change: Any) -> dict[str, Any]:
    runtime = copy.deepcopy(RUNTIME)
    change(runtime)
    return runtime


def without_worker_count(job: dict[str, Any]) -> dict[str, Any]:
    job["spec"]["trainer"]["env"] = []
    return job


def _jobs(runtime: dict[str, Any]) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = runtime["spec"]["template"]["spec"]["replicatedJobs"]
    return jobs


@pytest.mark.parametrize(
    ("runtime", "job", "parameter"),
    [
        (make_runtime(lambda r: r["metadata"].update(name="torch-distributed")), trainjob_of("x"), "runtimeRef"),
        (
            make_runtime(lambda r: r["spec"]["template"]["spec"].update(successPolicy={"operator": "All"})),
            trainjob_of("x"),
            "successPolicy.targetReplicatedJobs",
        ),
        (make_runtime(lambda r: _jobs(r).pop()), trainjob_of("x"), "replicatedJobs"),
        (make_runtime(lambda r: _jobs(r)[2]["template"]["spec"].update(parallelism=2)), trainjob_of("x"), "num_ps"),
        (
            make_runtime(lambda r: _jobs(r)[1]["template"]["spec"].update(parallelism=2)),
            trainjob_of("x"),
            "replicatedJobs[chief].parallelism",
        ),
        # numNodes 3 without TF_NUM_WORKERS: tf_config.py would read 1 and list one worker.
        (RUNTIME, without_worker_count(trainjob_of("x", workers=3)), "num_workers"),
    ],
)
def test_a_runtime_or_job_that_cannot_run_is_refused(
    runtime: dict[str, Any], job: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        trainjob.replica_specs(job, runtime)
    assert caught.value.parameter == parameter


def test_chief_decides_and_every_task_gets_the_tf_config_of_its_jobset_pod(
    local_settings: settings_module.Settings, pid_dir: pathlib.Path
) -> None:
    writer = synthetic.pid_writer(pid_dir)
    source = writer + (
        "import time\n"
        "if task.get('type') == 'chief':\n"
        f"    while len(list(pathlib.Path({str(pid_dir)!r}).iterdir())) < 4: time.sleep(0.05)\n"
        "    print('chief done'); raise SystemExit(0)\n"
        "while True: time.sleep(1)\n"
    )
    lines: list[str] = []
    status = trainjob.run(
        trainjob_of(source), runtime=RUNTIME, settings=local_settings, on_line=lines.append, timeout_s=120
    )

    assert [(c["type"], c["reason"]) for c in status["conditions"] if c["status"] == "True"] == [
        ("Complete", "AllJobsCompleted")
    ]
    assert status["jobsStatus"] == [
        {"name": "chief", "active": 0, "succeeded": 1, "failed": 0},
        {"name": "ps", "active": 0, "succeeded": 0, "failed": 0},
        {"name": "worker", "active": 0, "succeeded": 0, "failed": 0},
    ]
    assert "chief-0 | chief done" in lines
    for pid in synthetic.recorded_pids(pid_dir):
        assert synthetic.pid_gone(pid), f"task pid {pid} outlived the job"
    configs = {path.stem: json.loads(path.read_text()) for path in pid_dir.iterdir()}
    assert set(configs) == {"chief-0", "ps-0", "worker-0", "worker-1"}
    assert list(configs["worker-1"]["cluster"]) == ["chief", "ps", "worker"]
    assert configs["worker-1"]["task"] == {"type": "worker", "index": 1}
    assert configs["worker-1"]["environment"] == "cloud"
    directory = tfjob.job_dir("mnist-train", settings=local_settings)
    assert {path.name for path in directory.glob("*.log")} == {
        "chief-0.log",
        "ps-0.log",
        "worker-0.log",
        "worker-1.log",
    }
    assert "TrainJob ns/mnist-train successfully completed." in json.dumps(
        tfjob.read_status("mnist-train", settings=local_settings)
    )


def test_a_failing_chief_fails_the_trainjob(local_settings: settings_module.Settings) -> None:
    source = (
        "import os, json, time, sys\n"
        "if json.loads(os.environ['TF_CONFIG'])['task']['type'] == 'chief': sys.exit(3)\n"
        "while True: time.sleep(1)\n"
    )
    status = trainjob.run(trainjob_of(source), runtime=RUNTIME, settings=local_settings, timeout_s=120, check=False)
    failed = [c for c in status["conditions"] if c["type"] == "Failed" and c["status"] == "True"]
    assert failed and "backoff limit" in failed[0]["message"] and failed[0]["reason"] == "FailedJobs"


# ## A real training run through both APIs


# Small enough for 2 shared cores, big enough that the test accuracy means something.
TRAIN_SUBSET, TEST_SUBSET, TRAIN_STEPS, BATCH_SIZE = 2_000, 500, 120, 32


@pytest.mark.slow
def test_tfjob_and_trainjob_train_the_same_model_to_the_same_accuracy(state_dir: pathlib.Path) -> None:
    settings = settings_module.load(backend="local", state_dir=str(state_dir), bucket="mnist-apis")
    settings = settings.model_copy(update={"stop_grace_s": 2.0, "wait_timeout_s": 600.0})
    mnist = data.subset(data.load(cache_dir=data.default_cache_dir()), train=TRAIN_SUBSET, test=TEST_SUBSET)
    data.save_npz(mnist, containers.local_object_path(workloads.data_uri(settings), settings=settings))
    backend = backends.get(settings=settings)
    accuracy = {}
    for api in ("tfjob", "trainjob"):
        job = workloads.training_job(
            api=api, settings=settings, image="kubeflow-mnist/train:apis", run_id=api, num_workers=2, num_ps=1,
            train_steps=TRAIN_STEPS, batch_size=BATCH_SIZE, learning_rate=3e-3,
        )  # fmt: skip
        status = backend.run_training(job)
        done = "Complete" if api == "trainjob" else "Succeeded"
        assert [c["type"] for c in status["conditions"] if c["status"] == "True"][-1] == done
        logs = backend.replica_logs(job, tail_lines=50)
        assert set(logs) == {"chief-0", "ps-0", "worker-0", "worker-1"}
        assert "strategy ParameterServerStrategy" in logs["chief-0"]
        accuracy[api] = training.record_result(backend=backend, settings=settings, job=job)["test_accuracy"]
    print(f"test accuracy on {TEST_SUBSET} test images: {accuracy}")
    assert min(accuracy.values()) > 0.8
    assert abs(accuracy["tfjob"] - accuracy["trainjob"]) < 0.05, accuracy
