"""Notebook 03's TFJob through the real training operator, run by the node agent, as default-editor.

The steps are the notebook's own calls (settings, backend, render, stage, train, record) with fast
parameters; S3 is a moto server that the notebook side and the replicas share.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
from kubernetes import client as k8s_client

from helpers import backends, scoring, settings as settings_module, state, training, workloads
from helpers.local.node import agent
from helpers.serving import client as serving_client

from .conftest import NAMESPACE, WAIT_S

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/kubeflow-mnist/train:e2e"
UI_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/kubeflow-mnist/webui:e2e"
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


def test_notebooks_05_06_serve_and_the_ui_survives_a_deleted_serving_pod(
    editor_settings: settings_module.Settings, node: agent.NodeAgent, admin_api: k8s_client.ApiClient
) -> None:
    """05 and 06's deploys: the Deployments roll out through the controller manager, the s3-sync stand-in
    copies the model from S3 (moto) into the pod's volume, the server and the UI answer; the serving pod
    is deleted, the Deployment replaces it and the UI, which resolved the Service once, recovers."""
    backend = backends.get(settings=editor_settings)
    state.load(editor_settings.state_dir, state.Training)  # test_notebook_03 trained and recorded a model
    urls = backend.deploy(workloads.serving(settings=editor_settings))
    serving_url = node.resolve(
        workloads.service_url(urls, settings=editor_settings, component="serving"), namespace=NAMESPACE
    )
    accuracy = _predict_accuracy(serving_url, editor_settings, backend)
    assert accuracy > 0.5
    urls = backend.deploy(workloads.ui(settings=editor_settings, ui_image=UI_IMAGE))
    ui_url = node.resolve(workloads.service_url(urls, settings=editor_settings, component="ui"), namespace=NAMESPACE)
    assert len(_get_json(f"{ui_url}/api/random")["probabilities"]) == 10
    core = k8s_client.CoreV1Api(admin_api)
    selector = f"app={editor_settings.app_name}-serving"
    [old] = core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
    core.delete_namespaced_pod(old.metadata.name, NAMESPACE)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
        if len(pods) == 1 and pods[0].metadata.uid != old.metadata.uid and _ready(pods[0]):
            break
        time.sleep(0.5)
    # The same Service address as before (its virtual IP) reaches the new pod, and so does the UI.
    assert _predict_accuracy(serving_url, editor_settings, backend) == accuracy
    assert len(_get_json(f"{ui_url}/api/random")["probabilities"]) == 10


def _get_json(url: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
