"""`helpers.cluster.trainjob` and `training_apis` on the real API server as default-editor, with Trainer v2.3's CRDs.

The admin plays Trainer's controller through the status subresource; discovery and the TrainJob's fields come
from the server's own documents. Kept on the stand-in (tests/cluster/test_trainjob.py, test_training_apis.py):
the wait seeing each of a scripted list of states once, the tasks' logs (a real API server reads them only from
a kubelet), and clusters without Trainer, without TFJob or with Trainer v2.1's fields, which the control plane
cannot be for one test.
"""

from __future__ import annotations

from typing import Any

import pytest

from controlplane import cluster
from helpers import errors, settings as settings_module
from helpers.cluster import _kinds, apply, training_apis, trainjob as cluster_trainjob

from . import controllers


def _trainjob() -> dict[str, Any]:
    """A TrainJob manifest on the tensorflow-ps runtime."""
    spec = {
        "runtimeRef": {"name": "tensorflow-ps", "apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime"},
        "trainer": {"image": "registry/mnist:1", "numNodes": 2},
    }
    metadata = {"name": "mnist", "labels": {"app.kubernetes.io/part-of": "kubeflow-mnist"}}
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": metadata, "spec": spec}


def _trainer_writes(control_plane: cluster.Cluster, namespace: str, status: dict[str, Any]) -> None:
    path = _kinds.by_name("TrainJob").path(namespace=namespace, name="mnist") + "/status"
    control_plane.request("PATCH", path, body={"status": status}, content_type=controllers.MERGE)


def _condition(kind: str, reason: str, message: str) -> dict[str, str]:
    now = "2026-12-03T08:00:00Z"
    return {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now}


def test_a_trainjob_is_done_when_complete(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    apply.apply([_trainjob()], api=editor_api, settings=editor_settings)
    complete = {
        "conditions": [_condition("Complete", "AllJobsCompleted", "jobset completed successfully")],
        "jobsStatus": [{"name": "chief", "active": 0, "ready": 0, "succeeded": 1, "failed": 0, "suspended": 0}],
    }
    _trainer_writes(control_plane, editor_settings.namespace, complete)
    status = cluster_trainjob.wait_for_trainjob("mnist", api=editor_api, settings=editor_settings, interval_s=0.05)
    assert status["conditions"][0]["reason"] == "AllJobsCompleted"
    assert status["jobsStatus"][0]["succeeded"] == 1


@pytest.mark.parametrize(
    ("reason", "message"),
    [("FailedJobs", "jobset failed due to one or more job failures"), ("DeadlineExceeded", "active too long")],
)
def test_a_failed_trainjob_is_a_cluster_error_in_trainers_words(
    control_plane: cluster.Cluster,
    editor_api: Any,
    editor_settings: settings_module.Settings,
    reason: str,
    message: str,
) -> None:
    apply.apply([_trainjob()], api=editor_api, settings=editor_settings)
    _trainer_writes(control_plane, editor_settings.namespace, {"conditions": [_condition("Failed", reason, message)]})
    with pytest.raises(errors.ClusterError, match=f"{reason}: {message}"):
        cluster_trainjob.wait_for_trainjob("mnist", api=editor_api, settings=editor_settings, interval_s=0.05)


def test_a_trainjob_that_never_ends_times_out_with_its_last_state(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    apply.apply([_trainjob()], api=editor_api, settings=editor_settings)
    with pytest.raises(errors.WaitTimeout, match="no condition yet"):
        cluster_trainjob.wait_for_trainjob(
            "mnist", api=editor_api, settings=editor_settings, timeout_s=0.3, interval_s=0.05
        )


def test_discovery_and_the_trainjob_fields_from_the_real_servers_documents(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    # The stand-in's OpenAPI document and discovery lists are hand-made; these are the API server's own.
    served = training_apis.discover(api=editor_api, settings=editor_settings, runtime_name="tensorflow-ps")
    assert served.tfjob and served.trainjob
    # Cluster-scoped: kubeflow-edit grants nothing there, and Trainer's own binding is not installed here.
    assert served.runtime_unreadable and served.runtime == {}
    fields = training_apis.trainjob_spec_fields(api=editor_api, settings=editor_settings)
    assert fields is not None and {"runtimeRef", "trainer", "runtimePatches"} <= fields
    job = _trainjob()
    assert training_apis.for_trainer(job, fields) == job
