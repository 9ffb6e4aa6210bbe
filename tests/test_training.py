"""Notebook 03's helpers: the progress bar fed by log lines, job and status tables, staging."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from helpers import backends, data, errors, settings as settings_module, state, training, workloads
from helpers.local import containers


def _job(settings: settings_module.Settings, **overrides: int) -> dict:
    arguments = {"num_workers": 2, "num_ps": 1, "train_steps": 100, "batch_size": 8}
    arguments.update(overrides)
    return workloads.tfjob(
        settings=settings, image="kubeflow-mnist/train:1", run_id="r1", learning_rate=0.01, **arguments
    )


@pytest.fixture
def with_bucket(settings: settings_module.Settings) -> settings_module.Settings:
    return settings.model_copy(update={"bucket": "mnist-local"})


def test_progress_follows_only_the_chief(capsys: pytest.CaptureFixture[str]) -> None:
    progress = training.Progress(total_steps=100)
    progress("worker-0 | step 90/100 loss=1")
    assert progress._bar.n == 0
    progress("chief-0 | step 40/100 loss=0.5 accuracy=0.8")
    assert progress._bar.postfix == "loss=0.5"
    progress("chief-0 | step 100/100 loss=0.1 accuracy=0.9")
    assert progress._bar.n == 100
    assert progress._bar.postfix == "loss=0.1"
    progress.close()


def test_describe_job_shows_replicas_and_the_chiefs_tf_config(with_bucket: settings_module.Settings) -> None:
    described = training.describe_job(_job(with_bucket, num_workers=3, num_ps=2), settings=with_bucket)
    assert described.status_of("Worker x3") == "restartPolicy"
    tf_config = json.loads(next(row.name for row in described.rows if row.item == "TF_CONFIG of chief 0"))
    assert len(tf_config["cluster"]["worker"]) == 3 and len(tf_config["cluster"]["ps"]) == 2
    assert tf_config["task"] == {"type": "chief", "index": 0}


def test_describe_status_lists_conditions_and_counts() -> None:
    status = {
        "conditions": [{"type": "Created", "reason": "TFJobCreated", "message": "made"}, {"type": "Succeeded"}],
        "replicaStatuses": {"Chief": {"succeeded": 1}, "PS": {"active": 0, "succeeded": 1}},
    }
    described = training.describe_status(status)
    assert [row.item for row in described.rows] == [
        "condition Created",
        "condition Succeeded",
        "replicas Chief",
        "replicas PS",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"num_workers": 0}, "num_workers"), ({"num_ps": 0}, "num_ps"), ({"train_steps": 0}, "train_steps")],
)
def test_tfjob_refuses_impossible_counts(with_bucket: settings_module.Settings, overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _job(with_bucket, **overrides)


def test_subsets_reach_every_replica(with_bucket: settings_module.Settings) -> None:
    job = workloads.tfjob(
        settings=with_bucket, image="i:1", run_id="r", num_workers=1, num_ps=1, train_steps=1, batch_size=1,
        learning_rate=0.1, train_subset=100, test_subset=50,
    )  # fmt: skip
    for replica in job["spec"]["tfReplicaSpecs"].values():
        args = replica["template"]["spec"]["containers"][0]["args"]
        assert "--train-subset=100" in args and "--test-subset=50" in args


def test_stage_dataset_puts_one_copy_in_the_bucket(
    with_bucket: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    rng = np.random.default_rng(0)
    tiny = data.Mnist(
        x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, 20, dtype=np.uint8),
        x_test=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 5, dtype=np.uint8),
    )
    source = tmp_path / "tiny.npz"
    data.save_npz(tiny, source)
    staged = training.stage_dataset(
        backend=backends.get(settings=with_bucket), settings=with_bucket, source_uri=str(source)
    )
    assert staged.status_of("location") == "uploaded"
    target = containers.local_object_path(workloads.data_uri(with_bucket), settings=with_bucket)
    assert np.array_equal(data.read_npz(target).x_test, tiny.x_test)
    recorded = state.load(with_bucket.state_dir, state.Data)
    assert (recorded.uri, recorded.train, recorded.test) == (workloads.data_uri(with_bucket), 20, 5)


# ## The TrainJob path (Kubeflow Trainer v2)


def _trainjob(settings: settings_module.Settings, **overrides: int) -> dict:
    arguments = {"num_workers": 3, "num_ps": 1, "train_steps": 100, "batch_size": 8}
    arguments.update(overrides)
    return workloads.training_job(
        api="trainjob", settings=settings, image="kubeflow-mnist/train:1", run_id="r1", learning_rate=0.01, **arguments
    )


def test_describe_trainjob_shows_the_runtimes_replicas_and_the_chiefs_jobset_tf_config(
    with_bucket: settings_module.Settings,
) -> None:
    described = training.describe_job(_trainjob(with_bucket), settings=with_bucket)
    assert described.title == "TrainJob mnist-train"
    assert described.status_of("Worker x3") == "restartPolicy"
    assert described.status_of("Chief x1") == "restartPolicy"
    row = next(row for row in described.rows if row.item == "TF_CONFIG of chief 0")
    tf_config = json.loads(row.name)
    namespace = with_bucket.namespace
    assert tf_config["cluster"]["worker"][2] == f"mnist-train-worker-0-2.mnist-train.{namespace}.svc:2222"
    assert tf_config["task"] == {"type": "chief", "index": 0}
    assert row.status == "built by tf_config.py from JobSet's names"
    parameters = {"image": "i:1", "run_id": "r", "train_steps": 10, "batch_size": 8, "learning_rate": 0.01}
    jobs = training.render_jobs(api="tfjob", settings=with_bucket, num_workers=2, num_ps=1, **parameters)
    assert [job["kind"] for job in jobs.values()] == ["TFJob", "TrainJob"]
    assert "kind: TrainJob" in training.trainjob_yaml(jobs)
    jobs = training.render_jobs(api="tfjob", settings=with_bucket, num_workers=2, num_ps=2, **parameters)
    assert list(jobs) == ["tfjob"] and "set num_ps=1" in training.trainjob_yaml(jobs)
    with pytest.raises(errors.ConfigError, match="num_ps"):
        training.render_jobs(api="trainjob", settings=with_bucket, num_workers=2, num_ps=2, **parameters)


def test_trainjob_takes_its_ps_count_from_the_runtime(with_bucket: settings_module.Settings) -> None:
    with pytest.raises(errors.ConfigError, match="runs 1 parameter server") as caught:
        _trainjob(with_bucket, num_ps=2)
    assert caught.value.parameter == "num_ps"
    job = _trainjob(with_bucket, num_workers=4)
    assert job["spec"]["trainer"]["numNodes"] == 4
    assert {"name": "TF_NUM_WORKERS", "value": "4"} in job["spec"]["trainer"]["env"]


def test_an_unknown_training_api_is_refused(with_bucket: settings_module.Settings) -> None:
    with pytest.raises(errors.ConfigError, match="training_api"):
        workloads.training_job(api="pytorchjob", settings=with_bucket)
    with pytest.raises(errors.ConfigError, match="training_api") as caught:
        settings_module.load(state_dir=str(with_bucket.state_dir), training_api="mpijob")
    assert caught.value.parameter == "training_api"


@pytest.mark.parametrize(("wanted", "chosen"), [("auto", "tfjob"), ("tfjob", "tfjob"), ("trainjob", "trainjob")])
def test_the_local_backend_runs_both_apis_and_auto_is_tfjob(
    settings: settings_module.Settings, wanted: str, chosen: str
) -> None:
    local = backends.get(settings=settings.model_copy(update={"training_api": wanted}))
    assert local.training_api() == chosen


def test_describe_status_of_a_trainjob_lists_its_jobs() -> None:
    status = {
        "conditions": [{"type": "Complete", "status": "True", "reason": "AllJobsCompleted", "message": "done"}],
        "jobsStatus": [{"name": "chief", "succeeded": 1, "active": 0}, {"name": "worker", "active": 0}],
    }
    described = training.describe_status(status, kind="TrainJob")
    assert described.title == "TrainJob status"
    assert [row.item for row in described.rows] == ["condition Complete", "replicas chief", "replicas worker"]
    assert described.status_of("replicas chief") == ""


def test_record_result_reads_the_model_dir_of_a_trainjob(with_bucket: settings_module.Settings) -> None:
    job = _trainjob(with_bucket)
    metrics = {"version": 7, "test_accuracy": 0.95, "test_loss": 0.2}
    target = containers.local_object_path(f"{workloads.export_uri(with_bucket)}/metrics.json", settings=with_bucket)
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(metrics))
    recorded = training.record_result(backend=backends.get(settings=with_bucket), settings=with_bucket, job=job)
    assert recorded["model_dir"] == f"{workloads.run_uri(with_bucket, 'mnist-train')}/r1"
    assert state.load(with_bucket.state_dir, state.Training).test_accuracy == 0.95
    assert state.summary(with_bucket.state_dir).values() == {"test accuracy (training)": "0.9500"}
