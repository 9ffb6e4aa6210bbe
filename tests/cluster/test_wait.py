"""Contract tests for `helpers.cluster.wait`: TFJob conditions, rollouts, batch Jobs and timeouts."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import apply, wait

from . import fake_api as fake_api_module, objects

KUBEFLOW = "apis/kubeflow.org/v1"
FAST = 0.01  # seconds between reads: the stand-in answers at once


def _condition(kind: str, message: str, status: str = "True") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": f"TFJob{kind}", "message": message}


def _tfjob_status(*conditions: dict[str, str], **replicas: dict[str, int]) -> dict[str, Any]:
    return {"conditions": list(conditions), "replicaStatuses": replicas}


CREATED = _condition("Created", "TFJob mnist is created.")
RUNNING = _condition("Running", "TFJob mnist is running.")


def test_a_tfjob_goes_from_created_through_running_to_succeeded(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([objects.tfjob()], api=api, settings=cluster_settings)
    fake_api.script_status(
        KUBEFLOW,
        "tfjobs",
        objects.NAMESPACE,
        "mnist",
        _tfjob_status(CREATED),
        _tfjob_status(CREATED, RUNNING, Chief={"active": 1}, PS={"active": 1}, Worker={"active": 2}),
        _tfjob_status(CREATED, RUNNING, Chief={"active": 1}, PS={"active": 1}, Worker={"active": 2}),
        _tfjob_status(
            CREATED,
            {**RUNNING, "status": "False"},
            _condition("Succeeded", "TFJob mnist successfully completed."),
            Chief={"succeeded": 1},
            Worker={"succeeded": 2},
        ),
    )
    seen: list[list[str]] = []

    status = wait.wait_for_tfjob(
        "mnist",
        api=api,
        settings=cluster_settings,
        interval_s=FAST,
        on_change=lambda status: seen.append([c["type"] for c in status["conditions"] if c["status"] == "True"]),
    )

    assert seen == [["Created"], ["Created", "Running"], ["Created", "Succeeded"]]
    assert status["replicaStatuses"]["Chief"] == {"succeeded": 1}


def test_a_failed_tfjob_raises_with_the_operators_message(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([objects.tfjob()], api=api, settings=cluster_settings)
    failed = _condition("Failed", "TFJob mnist has failed because 1 Chief replica(s) failed.")
    fake_api.script_status(
        KUBEFLOW,
        "tfjobs",
        objects.NAMESPACE,
        "mnist",
        _tfjob_status(CREATED, RUNNING),
        _tfjob_status(
            CREATED, _condition("Restarting", "TFJob mnist is restarting because 1 Worker replica(s) failed.")
        ),
        _tfjob_status(CREATED, failed, Chief={"failed": 1}),
    )

    with pytest.raises(errors.ClusterError) as raised:
        wait.wait_for_tfjob("mnist", api=api, settings=cluster_settings, interval_s=FAST)

    assert "TFJob/mnist" in str(raised.value)
    assert "TFJobFailed: TFJob mnist has failed because 1 Chief replica(s) failed." in str(raised.value)


def test_a_wait_that_times_out_names_the_last_state(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([objects.tfjob()], api=api, settings=cluster_settings)
    fake_api.script_status(
        KUBEFLOW,
        "tfjobs",
        objects.NAMESPACE,
        "mnist",
        _tfjob_status(CREATED, RUNNING, Chief={"active": 1}, Worker={"active": 2}),
    )

    with pytest.raises(errors.WaitTimeout) as raised:
        wait.wait_for_tfjob("mnist", api=api, settings=cluster_settings, timeout_s=0.3, interval_s=0.05)

    message = str(raised.value)
    assert message.startswith(f"timed out after 0.3 s waiting for TFJob/mnist in namespace {objects.NAMESPACE}")
    assert "last state: Running (TFJob mnist is running.)" in message
    assert "Chief: active 1" in message and "Worker: active 2" in message


def test_waiting_for_a_missing_object_times_out_saying_so(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    with pytest.raises(errors.WaitTimeout, match="last state: not found"):
        wait.wait_for_tfjob("absent", api=api, settings=cluster_settings, timeout_s=0.1, interval_s=FAST)


def _deployment(replicas: int = 2) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "serving"}},
        "spec": {"containers": [{"name": "serving", "image": "tf"}]},
    }
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": "serving"}}, "template": template}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "serving"}, "spec": spec}


def test_a_rollout_is_done_when_every_replica_is_updated_and_available(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([_deployment()], api=api, settings=cluster_settings)
    generation = apply.apply([_deployment(replicas=3)], api=api, settings=cluster_settings)[0]["metadata"]["generation"]
    old = {"observedGeneration": generation - 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    surging = {"observedGeneration": generation, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}
    unavailable = {"observedGeneration": generation, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}
    done = {"observedGeneration": generation, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
    fake_api.script_status("apis/apps/v1", "deployments", objects.NAMESPACE, "serving", old, surging, unavailable, done)
    seen: list[dict[str, Any]] = []

    status = wait.wait_for_rollout(
        "serving", api=api, settings=cluster_settings, interval_s=FAST, on_change=seen.append
    )

    assert status == done
    assert seen == [old, surging, unavailable, done]


def test_a_rollout_past_its_progress_deadline_fails(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([_deployment()], api=api, settings=cluster_settings)
    stuck = {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "serving-5d8" has timed out progressing.',
            }
        ],
    }
    fake_api.script_status("apis/apps/v1", "deployments", objects.NAMESPACE, "serving", stuck)

    with pytest.raises(errors.ClusterError, match="ProgressDeadlineExceeded: ReplicaSet"):
        wait.wait_for_rollout("serving", api=api, settings=cluster_settings, interval_s=FAST)


def _job() -> dict[str, Any]:
    container = {"name": "build", "image": "executor", "args": ["--destination=registry/mnist:1"]}
    template = {"spec": {"restartPolicy": "Never", "containers": [container]}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "build"}, "spec": {"template": template}}


def _script_job(fake_api: fake_api_module.FakeApiServer, final: dict[str, str]) -> None:
    running = {"active": 1}
    fake_api.script_status(
        "apis/batch/v1", "jobs", objects.NAMESPACE, "build", running, running, {"conditions": [final]}
    )


def test_a_batch_job_wait_returns_when_the_job_is_complete(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([_job()], api=api, settings=cluster_settings)
    complete = {"type": "Complete", "status": "True"}
    _script_job(fake_api, complete)

    status = wait.wait_for_job("build", api=api, settings=cluster_settings, interval_s=FAST)

    assert status["conditions"] == [complete]


def test_a_failed_batch_job_raises_with_the_jobs_reason(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([_job()], api=api, settings=cluster_settings)
    message = "Job has reached the specified backoff limit"
    _script_job(fake_api, {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": message})

    with pytest.raises(errors.ClusterError) as raised:
        wait.wait_for_job("build", api=api, settings=cluster_settings, interval_s=FAST)

    assert f"run Job/build in namespace {objects.NAMESPACE} failed: BackoffLimitExceeded: {message}" == str(
        raised.value
    )
