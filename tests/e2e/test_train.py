"""Notebook 03's TFJob through the real training operator, run by the node agent, as default-editor.

The steps are the notebook's own calls (settings, backend, render, stage, train, record) with fast
parameters; S3 is a moto server that the notebook side and the replicas share.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from kubernetes import client as k8s_client

from helpers import backends, scoring, settings as settings_module, state, training, workloads
from helpers.local.node import agent
from helpers.serving import client as serving_client

from .conftest import NAMESPACE, WAIT_S

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/kubeflow-mnist/train:e2e"
FAST = {"num_workers": 2, "num_ps": 1, "train_steps": 40, "batch_size": 32, "learning_rate": 0.003,
        "train_subset": 2000, "test_subset": 500}  # fmt: skip


def test_notebook_03_trains_through_the_real_operator(editor_settings: settings_module.Settings) -> None:
    backend = backends.get(settings=editor_settings)
    backend.grant_access()  # as 01 does: the pods' ServiceAccount and aws-secret, as default-editor
    jobs = training.render_jobs(
        api="tfjob", settings=editor_settings, image=IMAGE, run_id=time.strftime("%Y%m%d-%H%M%S"), **FAST
    )
    job = jobs["tfjob"]
    training.stage_dataset(backend=backend, settings=editor_settings)
    started = time.monotonic()
    training.train(backend=backend, job=job, train_steps=FAST["train_steps"])
    result = training.record_result(backend=backend, settings=editor_settings, job=job)
    print(f"trained through the operator in {time.monotonic() - started:.0f} s: {result}")
    assert result["test_accuracy"] > 0.5
    logs = backend.replica_logs(job, tail_lines=4)
    assert any("final:" in text for text in logs.values()), logs


def _predict_accuracy(server_url: str, settings: settings_module.Settings, backend: Any, count: int = 200) -> float:
    client = serving_client.ServingClient(server_url, workloads.MODEL_NAME)
    client.wait_available(timeout_s=WAIT_S)
    test_set = np.load(backend.fetch(workloads.data_uri(settings)))
    images, labels = test_set["x_test"][:count] / np.float32(255), test_set["y_test"][:count]
    return float(scoring.accuracy(client.predict(images), labels))


def test_notebook_05_serves_through_a_deployment_and_survives_a_deleted_pod(
    editor_settings: settings_module.Settings, node: agent.NodeAgent, admin_api: k8s_client.ApiClient
) -> None:
    """05's deploy: the Deployment rolls out through the controller manager, the s3-sync stand-in copies the
    model from S3 (moto) into the pod's volume, the server answers; a deleted pod is replaced."""
    backend = backends.get(settings=editor_settings)
    state.load(editor_settings.state_dir, state.Training)  # test_notebook_03 trained and recorded a model
    urls = backend.deploy(workloads.serving(settings=editor_settings))
    in_cluster = workloads.service_url(urls, settings=editor_settings, component="serving")
    accuracy = _predict_accuracy(node.resolve(in_cluster, namespace=NAMESPACE), editor_settings, backend)
    assert accuracy > 0.5
    core = k8s_client.CoreV1Api(admin_api)
    selector = f"app={editor_settings.app_name}-serving"
    [old] = core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
    core.delete_namespaced_pod(old.metadata.name, NAMESPACE)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
        ready = [p for p in pods if p.metadata.uid != old.metadata.uid and _ready(p)]
        if ready and len(pods) == 1:
            break
        time.sleep(0.5)
    # A new pod (a new name, so a new address) serves again; a client that resolved the old address
    # at its start would not follow it (no Service virtual IP on this node: see the report).
    assert _predict_accuracy(node.resolve(in_cluster, namespace=NAMESPACE), editor_settings, backend) == accuracy


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
