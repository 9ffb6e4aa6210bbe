"""`helpers.cluster.trainjob` against the API server stand-in: a scripted sequence of states, and the tasks' logs.

A completed, failed or never-ending TrainJob runs on the real API server as default-editor
(tests/controlplane/test_trainjob.py). Kept here: each read seeing the next of a scripted list of states (to
prove `on_change` reports each once; on a real server that depends on timing), and the tasks' logs by JobSet
labels, which a real API server reads only from a kubelet.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import apply, logs, trainjob as cluster_trainjob

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


def test_task_log_finds_a_trainjob_pod_by_jobset_labels(
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
    pods = cluster_trainjob.TRAINJOB_PODS
    assert logs.task_log(pods, "mnist", "worker", 1, api=api, settings=cluster_settings) == (
        "worker 1 says hello\nstep 1/1\n"
    )
    assert logs.task_log(pods, "mnist", "chief", api=api, settings=cluster_settings, tail_lines=1) == "step 1/1\n"
    with pytest.raises(errors.ClusterError, match="JobSet deleted it") as caught:
        logs.task_log(pods, "mnist", "ps", 0, api=api, settings=cluster_settings)
    assert caught.value.status == 404
