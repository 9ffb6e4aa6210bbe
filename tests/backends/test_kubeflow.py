"""The kubeflow backend's steps: AWS under moto, Kubernetes through the API server stand-in where a real one cannot.

What a real API server serves runs there instead (tests/controlplane/test_kubeflow_backend.py: the pods'
credentials, the build Job, a TFJob's wait, deploy and undeploy). Kept on the stand-in: the chief's log lines
passed on while a TFJob runs (a real API server serves container output only from a kubelet), and the TrainJob
path, whose cases need clusters without Trainer, without its runtime or without TFJob, while the control plane
serves every CRD to every test.
"""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from helpers import backends, errors, settings as settings_module, workloads
from helpers.aws import s3
from helpers.backends import base, kubeflow as kubeflow_backend
from tests.cluster import fake_api as fake_api_module, objects, test_training_apis
from tests.cluster.objects import NAMESPACE

pytestmark = pytest.mark.usefixtures("mocked_aws", "kube_config")


def test_identity_names_the_caller(kubeflow_settings: settings_module.Settings) -> None:
    checked = backends.get(settings=kubeflow_settings).check_identity()
    assert checked.status_of("identity") == "ok"
    assert checked.status_of("account") == "aws"


def test_storage_twice_creates_then_finds_and_records_the_bucket(kubeflow_settings: settings_module.Settings) -> None:
    first = backends.get(settings=kubeflow_settings).ensure_storage()
    assert first.status_of("S3 bucket") == "created"
    assert first.status_of("ECR repository") == "created"
    saved = settings_module.load(state_dir=str(kubeflow_settings.state_dir))
    assert saved.bucket.startswith("mnist-") and saved.backend == "kubeflow"
    again = backends.get(settings=saved).ensure_storage()
    assert again.status_of("S3 bucket") == "exists"
    assert again.status_of("ECR repository") == "exists"


def _tfjob_status(*types: str) -> dict:
    return {
        "conditions": [{"type": kind, "status": "True", "reason": f"TFJob{kind}", "message": kind} for kind in types],
        "replicaStatuses": {"Chief": {"succeeded": 1}} if "Succeeded" in types else {"Chief": {"active": 1}},
    }


def _tfjob(settings: settings_module.Settings, *, num_workers: int) -> dict[str, Any]:
    return workloads.tfjob(
        settings=settings,
        image="registry/train:1",
        run_id="r1",
        num_workers=num_workers,
        num_ps=1,
        train_steps=10,
        batch_size=8,
        learning_rate=0.01,
    )


@pytest.mark.parametrize(
    "start",
    [
        pytest.param(
            lambda backend, settings: backend.run_training(_tfjob(settings, num_workers=1)), id="run_training"
        ),
        pytest.param(lambda backend, settings: backend.deploy(workloads.serving(settings=settings)), id="deploy"),
    ],
)
def test_starting_pods_without_their_account_names_01_before_writing_anything(
    kubeflow_settings: settings_module.Settings,
    fake_api: fake_api_module.FakeApiServer,
    start: Callable[[base.Backend, settings_module.Settings], object],
) -> None:
    """The pods would be refused by the ServiceAccount admission, and the wait would only time out."""
    settings = kubeflow_settings.model_copy(update={"bucket": "mnist-bucket"})
    with pytest.raises(errors.ConfigError, match="mnist-workloads for the pods: run 01_aws_setup first"):
        start(backends.get(settings=settings), settings)
    assert not [call for call in fake_api.calls() if call["method"] != "GET"]


def _add_chief_pod(fake_api: fake_api_module.FakeApiServer) -> None:
    """The chief's pod as the training operator labels it."""
    labels = {
        "training.kubeflow.org/job-name": "mnist-train",
        "training.kubeflow.org/replica-type": "chief",
        "training.kubeflow.org/replica-index": "0",
    }
    metadata = {"name": "mnist-train-chief-0", "namespace": NAMESPACE, "labels": labels}
    fake_api.add("api/v1", "pods", {"metadata": metadata, "spec": {"containers": [{"name": "tensorflow"}]}})


@pytest.mark.usefixtures("pods_account")
def test_run_training_submits_a_tfjob_waits_and_passes_on_the_chief_log(
    kubeflow_settings: settings_module.Settings, fake_api: fake_api_module.FakeApiServer
) -> None:
    settings = kubeflow_settings.model_copy(update={"bucket": "mnist-bucket"})
    job = _tfjob(settings, num_workers=2)
    fake_api.script_status(
        "apis/kubeflow.org/v1",
        "tfjobs",
        NAMESPACE,
        "mnist-train",
        _tfjob_status("Created"),
        _tfjob_status("Created", "Running"),
        _tfjob_status("Created", "Running", "Succeeded"),
    )
    _add_chief_pod(fake_api)
    fake_api.set_logs(NAMESPACE, "mnist-train-chief-0", "tensorflow", "step 10/10 loss=0.1\nfinal: test_accuracy=0.9\n")
    lines: list[str] = []
    backend = backends.get(settings=settings)
    status = backend.run_training(job, on_line=lines.append)
    assert status["conditions"][-1]["type"] == "Succeeded"
    assert lines == ["chief-0 | step 10/10 loss=0.1", "chief-0 | final: test_accuracy=0.9"], "each line once"
    assert fake_api.get("apis/kubeflow.org/v1", "tfjobs", NAMESPACE, "mnist-train") is not None
    logs = backend.replica_logs(job, tail_lines=1)
    assert logs["chief-0"] == "final: test_accuracy=0.9\n"
    assert logs["worker-1"] == "(pod removed by the job's cleanPodPolicy)"


def test_fetch_and_copy_tree_go_through_s3(kubeflow_settings: settings_module.Settings, tmp_path: pathlib.Path) -> None:
    backend = backends.get(settings=kubeflow_settings)
    backend.ensure_storage()
    bucket = backend.settings.bucket
    version = tmp_path / "version"
    version.mkdir()
    (version / "saved_model.pb").write_bytes(b"model")
    backend.upload(version / "saved_model.pb", f"s3://{bucket}/models/mnist/1/saved_model.pb")
    with pytest.raises(errors.ConfigError, match="not a complete model version"):
        backend.copy_tree(f"s3://{bucket}/models/mnist/1", f"s3://{bucket}/models/mnist/2")
    backend.upload(s3.write_marker(version), f"s3://{bucket}/models/mnist/1/{s3.COMPLETE_MARKER}")
    backend.copy_tree(f"s3://{bucket}/models/mnist/1", f"s3://{bucket}/models/mnist/2")
    fetched = backend.fetch(f"s3://{bucket}/models/mnist")
    assert (
        (fetched / "1" / "saved_model.pb").read_bytes() == (fetched / "2" / "saved_model.pb").read_bytes() == b"model"
    )
    assert backend.fetch(f"s3://{bucket}/models/mnist/2/saved_model.pb").read_bytes() == b"model"
    assert s3.is_complete(fetched / "2")


# ## Kubeflow Trainer v2: the TrainJob path

TRAINER = "apis/trainer.kubeflow.org/v1alpha1"
TRAINER_RBAC = pytest.mark.rbac_exempt(
    reason="TrainJob exists from Kubeflow 1.11; runtimes are read via Trainer's system:authenticated binding"
)


def _trainer_cluster(fake_api: fake_api_module.FakeApiServer, *, runtime: bool = True, tfjob: bool = True) -> None:
    fake_api.serve("trainer.kubeflow.org", "v1alpha1", ["trainjobs", "trainingruntimes", "clustertrainingruntimes"])
    if runtime:
        fake_api.add(
            TRAINER, "clustertrainingruntimes", workloads.training_runtime(settings=settings_module.Settings())
        )
    if not tfjob:
        fake_api.resources["kubeflow.org/v1"] = ["notebooks", "profiles"]


def _trainjob(settings: settings_module.Settings, **overrides: Any) -> dict[str, Any]:
    parameters = {"num_workers": 2, "num_ps": 1, "train_steps": 10, "batch_size": 8, "learning_rate": 0.01}
    return workloads.trainjob(settings=settings, image="registry/train:1", run_id="r1", **{**parameters, **overrides})


@pytest.mark.parametrize(
    ("wanted", "runtime", "tfjob", "chosen"),
    [("auto", True, True, "trainjob"), ("auto", False, True, "tfjob"), ("tfjob", True, True, "tfjob")],
)
@TRAINER_RBAC
def test_training_api_follows_what_the_cluster_serves(
    kubeflow_settings: settings_module.Settings,
    fake_api: fake_api_module.FakeApiServer,
    wanted: str,
    runtime: bool,
    tfjob: bool,
    chosen: str,
) -> None:
    _trainer_cluster(fake_api, runtime=runtime, tfjob=tfjob)
    settings = kubeflow_settings.model_copy(update={"training_api": wanted})
    assert backends.get(settings=settings).training_api() == chosen


@TRAINER_RBAC
@pytest.mark.usefixtures("pods_account")
def test_a_missing_runtime_stops_with_the_administrators_command(
    kubeflow_settings: settings_module.Settings, fake_api: fake_api_module.FakeApiServer
) -> None:
    _trainer_cluster(fake_api, runtime=False, tfjob=False)
    settings = kubeflow_settings.model_copy(update={"bucket": "mnist-bucket"})
    backend = backends.get(settings=settings)
    with pytest.raises(errors.ClusterError, match=r"`kubectl apply -f manifests/tf-ps-runtime\.yaml`"):
        backend.training_api()
    with pytest.raises(errors.ClusterError, match="tensorflow-ps"):
        backend.run_training(_trainjob(settings))
    assert not fake_api.calls("POST") and not fake_api.calls("PATCH"), "nothing was submitted"


@TRAINER_RBAC
@pytest.mark.usefixtures("pods_account")
def test_run_training_submits_a_trainjob_waits_for_complete_and_reads_logs_by_jobset_labels(
    kubeflow_settings: settings_module.Settings, fake_api: fake_api_module.FakeApiServer
) -> None:
    _trainer_cluster(fake_api)
    settings = kubeflow_settings.model_copy(update={"bucket": "mnist-bucket"})
    job = _trainjob(settings)
    complete = {
        "conditions": [{"type": "Complete", "status": "True", "reason": "AllJobsCompleted", "message": "done"}],
        "jobsStatus": [{"name": "chief", "succeeded": 1}, {"name": "ps", "active": 0}],
    }
    fake_api.script_status(TRAINER, "trainjobs", NAMESPACE, "mnist-train", {}, {"jobsStatus": []}, complete)
    labels = {
        "jobset.sigs.k8s.io/jobset-name": "mnist-train",
        "jobset.sigs.k8s.io/replicatedjob-name": "chief",
        "batch.kubernetes.io/job-completion-index": "0",
    }
    fake_api.add("api/v1", "pods", objects.pod("mnist-train-chief-0-0-abcde", labels=labels, containers=("node",)))
    fake_api.set_logs(
        NAMESPACE, "mnist-train-chief-0-0-abcde", "node", "step 10/10 loss=0.1\nfinal: test_accuracy=0.9\n"
    )
    lines: list[str] = []
    backend = backends.get(settings=settings)
    status = backend.run_training(job, on_line=lines.append)

    assert status == complete
    assert lines == ["chief-0 | step 10/10 loss=0.1", "chief-0 | final: test_accuracy=0.9"], "each line once"
    stored = fake_api.get(TRAINER, "trainjobs", NAMESPACE, "mnist-train")
    assert stored is not None and stored["spec"]["trainer"]["numNodes"] == 2
    assert stored["spec"]["runtimeRef"]["name"] == "tensorflow-ps"
    logs = backend.replica_logs(job, tail_lines=1)
    assert logs == {
        "chief-0": "final: test_accuracy=0.9\n",
        "ps-0": "(pod deleted with its Job when the JobSet finished)",
        "worker-0": "(pod deleted with its Job when the JobSet finished)",
        "worker-1": "(pod deleted with its Job when the JobSet finished)",
    }


@TRAINER_RBAC
@pytest.mark.usefixtures("pods_account")
def test_a_failed_trainjob_is_a_clear_error(
    kubeflow_settings: settings_module.Settings, fake_api: fake_api_module.FakeApiServer
) -> None:
    _trainer_cluster(fake_api)
    settings = kubeflow_settings.model_copy(update={"bucket": "mnist-bucket"})
    failed = {
        "conditions": [
            {"type": "Failed", "status": "True", "reason": "FailedJobs", "message": "jobset failed due to job failures"}
        ]
    }
    fake_api.script_status(TRAINER, "trainjobs", NAMESPACE, "mnist-train", failed)
    with pytest.raises(errors.ClusterError, match="FailedJobs: jobset failed"):
        backends.get(settings=settings).run_training(_trainjob(settings))


@TRAINER_RBAC
@pytest.mark.usefixtures("pods_account")
def test_a_trainjob_whose_counts_the_installed_runtime_cannot_run_is_refused_before_submitting(
    kubeflow_settings: settings_module.Settings, fake_api: fake_api_module.FakeApiServer
) -> None:
    _trainer_cluster(fake_api, runtime=False)
    runtime = workloads.training_runtime(settings=settings_module.Settings())
    runtime["spec"]["template"]["spec"]["replicatedJobs"][2]["template"]["spec"]["parallelism"] = 2
    fake_api.add(TRAINER, "clustertrainingruntimes", runtime)
    settings = kubeflow_settings.model_copy(update={"bucket": "mnist-bucket"})
    with pytest.raises(errors.ConfigError, match="num_ps"):
        backends.get(settings=settings).run_training(_trainjob(settings))
    assert fake_api.get(TRAINER, "trainjobs", NAMESPACE, "mnist-train") is None


@TRAINER_RBAC
@pytest.mark.usefixtures("pods_account")
def test_a_runtime_this_identity_may_not_read_is_assumed_installed(
    kubeflow_settings: settings_module.Settings, fake_api: fake_api_module.FakeApiServer
) -> None:
    _trainer_cluster(fake_api, runtime=False, tfjob=False)
    fake_api.deny("get", "clustertrainingruntimes")
    settings = kubeflow_settings.model_copy(update={"bucket": "mnist-bucket"})
    complete = {"conditions": [{"type": "Complete", "status": "True", "reason": "AllJobsCompleted", "message": "ok"}]}
    fake_api.script_status(TRAINER, "trainjobs", NAMESPACE, "mnist-train", complete)
    backend = backends.get(settings=settings)
    assert backend.training_api() == "trainjob"
    assert backend.run_training(_trainjob(settings)) == complete


@TRAINER_RBAC
@pytest.mark.usefixtures("pods_account")
def test_on_trainer_v2_1_the_trainjob_is_written_in_its_fields(
    kubeflow_settings: settings_module.Settings, fake_api: fake_api_module.FakeApiServer
) -> None:
    _trainer_cluster(fake_api)
    fake_api.openapi["trainer.kubeflow.org/v1alpha1"] = test_training_apis.openapi_document("v2.1.0")
    settings = kubeflow_settings.model_copy(update={"bucket": "mnist-bucket"})
    complete = {"conditions": [{"type": "Complete", "status": "True", "reason": "AllJobsCompleted", "message": "ok"}]}
    fake_api.script_status(TRAINER, "trainjobs", NAMESPACE, "mnist-train", complete)
    backends.get(settings=settings).run_training(_trainjob(settings))
    stored = fake_api.get(TRAINER, "trainjobs", NAMESPACE, "mnist-train")
    assert stored is not None and "runtimePatches" not in stored["spec"]
    assert stored["spec"]["podTemplateOverrides"][0]["spec"] == {"serviceAccountName": settings.service_account}


@pytest.mark.usefixtures("pods_account")
def test_the_chiefs_lines_come_while_the_job_runs_not_only_when_its_status_changes(
    kubeflow_settings: settings_module.Settings,
    fake_api: fake_api_module.FakeApiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kubeflow_backend, "CHIEF_LOG_INTERVAL_S", 0.05)
    settings = kubeflow_settings.model_copy(update={"bucket": "mnist-bucket", "wait_timeout_s": 30.0})
    job = _tfjob(settings, num_workers=1)
    running = [_tfjob_status("Created", "Running")] * 10_000  # one status for as long as the test takes
    fake_api.script_status("apis/kubeflow.org/v1", "tfjobs", NAMESPACE, "mnist-train", *running)
    _add_chief_pod(fake_api)
    fake_api.set_logs(NAMESPACE, "mnist-train-chief-0", "tensorflow", "step 1/10 loss=2.3\n")
    lines: list[str] = []
    backend = backends.get(settings=settings)
    training = threading.Thread(target=backend.run_training, args=(job,), kwargs={"on_line": lines.append})
    training.start()
    deadline = time.monotonic() + 20
    while lines != ["chief-0 | step 1/10 loss=2.3"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lines == ["chief-0 | step 1/10 loss=2.3"], "a line passed on while the status stayed Running"
    fake_api.set_logs(NAMESPACE, "mnist-train-chief-0", "tensorflow", "step 1/10 loss=2.3\nstep 5/10 loss=0.9\n")
    while len(lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lines[-1] == "chief-0 | step 5/10 loss=0.9"
    fake_api.script_status(
        "apis/kubeflow.org/v1", "tfjobs", NAMESPACE, "mnist-train", _tfjob_status("Created", "Running", "Succeeded")
    )
    training.join(30)
    assert not training.is_alive()
    assert lines == ["chief-0 | step 1/10 loss=2.3", "chief-0 | step 5/10 loss=0.9"], "each line once"
