"""`helpers.cluster.wait` against the API server stand-in: only scripted sequences of states.

Failures, timeouts, a missing object, a rollout (the real deployment controller), its progress deadline and
batch Jobs (the real job controller) run on the real API server as default-editor
(tests/controlplane/test_cluster_client.py). Kept here: each read seeing the next of a scripted list of states
(a TFJob through Created, Running, Succeeded; a rollout through surge and unavailability), to prove `on_change`
reports every state once; on a real server that depends on timing.
"""

from __future__ import annotations

from typing import Any

from helpers import settings as settings_module
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
