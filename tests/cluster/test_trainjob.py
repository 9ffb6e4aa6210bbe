"""Contract tests for `helpers.cluster.trainjob`: a TrainJob's wait and its tasks' logs by JobSet labels."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import apply, trainjob as cluster_trainjob

from . import fake_api as fake_api_module, objects

TRAINER = "apis/trainer.kubeflow.org/v1alpha1"
FAST = 0.01  # seconds between reads: the stand-in answers at once
# TrainJobs are writable from Kubeflow 1.11 on (tests/rbac.py checks every release).
TRAINER_RBAC = pytest.mark.rbac_exempt(reason="TrainJob exists from Kubeflow 1.11 (Trainer v2) on")


def _condition(kind: str, reason: str, message: str) -> dict[str, str]:
    return {"type": kind, "status": "True", "reason": reason, "message": message}


def trainjob(name: str = "mnist") -> dict[str, Any]:
    """A TrainJob manifest on the tensorflow-ps runtime."""
    spec = {
        "runtimeRef": {"name": "tensorflow-ps", "apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime"},
        "trainer": {"image": "registry/mnist:1", "numNodes": 2},
    }
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "kubeflow-mnist"}},
        "spec": spec,
    }


@TRAINER_RBAC
def test_a_trainjob_is_done_when_complete(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([trainjob()], api=api, settings=cluster_settings)
    running = {"jobsStatus": [{"name": "chief", "active": 1}, {"name": "worker", "active": 2, "ready": 2}]}
    complete = {
        "conditions": [_condition("Complete", "AllJobsCompleted", "jobset completed successfully")],
        "jobsStatus": [{"name": "chief", "succeeded": 1}],
    }
    fake_api.script_status(TRAINER, "trainjobs", objects.NAMESPACE, "mnist", {}, running, complete)
    seen: list[dict[str, Any]] = []
    status = cluster_trainjob.wait_for_trainjob(
        "mnist", api=api, settings=cluster_settings, on_change=seen.append, interval_s=FAST
    )
    assert status == complete
    assert seen == [{}, running, complete]
    assert cluster_trainjob.describe(running) == "no condition yet; jobs chief: active 1, succeeded 0, failed 0; " + (
        "worker: active 2, succeeded 0, failed 0"
    )


@pytest.mark.parametrize(
    ("reason", "message"),
    [("FailedJobs", "jobset failed due to one or more job failures"), ("DeadlineExceeded", "active too long")],
)
@TRAINER_RBAC
def test_a_failed_trainjob_is_a_cluster_error_in_trainers_words(
    api: Any,
    fake_api: fake_api_module.FakeApiServer,
    cluster_settings: settings_module.Settings,
    reason: str,
    message: str,
) -> None:
    apply.apply([trainjob()], api=api, settings=cluster_settings)
    failed = {"conditions": [_condition("Failed", reason, message)]}
    fake_api.script_status(TRAINER, "trainjobs", objects.NAMESPACE, "mnist", failed)
    with pytest.raises(errors.ClusterError, match=f"{reason}: {message}"):
        cluster_trainjob.wait_for_trainjob("mnist", api=api, settings=cluster_settings, interval_s=FAST)


@TRAINER_RBAC
def test_a_trainjob_that_never_ends_times_out_with_its_last_state(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([trainjob()], api=api, settings=cluster_settings)
    with pytest.raises(errors.WaitTimeout, match="no condition yet"):
        cluster_trainjob.wait_for_trainjob("mnist", api=api, settings=cluster_settings, timeout_s=0.2, interval_s=FAST)


def test_task_logs_find_the_pod_by_jobset_labels(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    for role, index in (("chief", 0), ("worker", 0), ("worker", 1)):
        name = f"mnist-{role}-0-{index}-x7k2p"
        labels = {
            cluster_trainjob.JOBSET_NAME_LABEL: "mnist",
            cluster_trainjob.REPLICATED_JOB_LABEL: role,
            cluster_trainjob.COMPLETION_INDEX_LABEL: str(index),
        }
        fake_api.add("api/v1", "pods", objects.pod(name, labels=labels, containers=("node",)))
        fake_api.set_logs(objects.NAMESPACE, name, "node", f"{role} {index} says hello\nstep 1/1\n")
    assert cluster_trainjob.task_logs("mnist", "worker", 1, api=api, settings=cluster_settings) == (
        "worker 1 says hello\nstep 1/1\n"
    )
    assert (
        cluster_trainjob.task_logs("mnist", "chief", api=api, settings=cluster_settings, tail_lines=1) == "step 1/1\n"
    )
    with pytest.raises(errors.ClusterError, match="JobSet deleted it") as caught:
        cluster_trainjob.task_logs("mnist", "ps", 0, api=api, settings=cluster_settings)
    assert caught.value.status == 404
