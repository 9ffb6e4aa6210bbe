"""Notebooks 01-06 through papermill with `backend=kubeflow`, as `make run` runs them, on the real control plane.

The kernels are what a notebook server in the profile would be: logged in as `default-editor` (its
kubeconfig, never admin), AWS on the session's moto server, and cluster names resolved by the node's
resolver shim (`NodeAgent.outside_env`), as a notebook pod resolves them through cluster DNS.

One step is not run here, and the test says so rather than calling it passed: 02's in-cluster kaniko
build. kaniko unpacks base images into its own root filesystem, which a pod run as a local process
cannot offer, and no base image can be pulled offline. The test pushes the two image manifests to ECR
(moto) as a finished build would have, under the tags that 02 computes from the build contexts; 02 then
runs for real through its path for a tag ECR already holds, and records the images. The rendered build
Job is checked against the Job schema and as default-editor in tests/controlplane.

No TensorBoard controller runs here (kubeflow/kubeflow's tensorboard-controller is not built), so a
`Tensorboard` would never get its server. The fixture removes that CRD and 04 takes its documented
path for a cluster without Kubeflow's TensorBoard app: its own Deployment, reading S3 through a sync
sidecar. The `Tensorboard` route is checked against the real API server in tests/controlplane.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import time
import urllib.error
import urllib.request
from typing import Any

import boto3
import nbformat
import pytest
import yaml
from kubernetes import client as k8s_client

from helpers import image, pipeline, settings as settings_module, state
from helpers.local.node import agent

from .conftest import FAST_PARAMETERS, NAMESPACE, WAIT_S

BUCKET = "mnist-notebooks-e2e"
TENSORBOARD_CRD = "tensorboards.tensorboard.kubeflow.org"
FIRST, REST = pipeline.NOTEBOOKS[:1], pipeline.NOTEBOOKS[1:]


@dataclasses.dataclass(frozen=True)
class Series:
    """What the run left: the executed notebooks by name, the series' settings, its run id and duration."""

    executed: dict[str, pathlib.Path]
    settings: settings_module.Settings
    run_id: str
    seconds: float


def _parameters(state_dir: pathlib.Path) -> dict[str, Any]:
    fast = yaml.safe_load(FAST_PARAMETERS.read_text())
    return {
        **fast,
        "backend": "kubeflow",
        "namespace": NAMESPACE,
        "region": "us-west-2",
        "bucket": BUCKET,
        "state_dir": str(state_dir),
        # The TrainJob path has its own test (test_trainjob.py); auto would depend on the test order.
        "training_api": "tfjob",
    }


def _run(
    parameters: dict[str, Any], selected: tuple[str, ...], output_dir: pathlib.Path, run_id: str
) -> dict[str, pathlib.Path]:
    """Run the `selected` notebooks as `make run` does; their executed copies by name."""
    outcomes = pipeline.run(
        parameters=parameters, output_dir=output_dir, selected=selected, progress_bar=False, run_id=run_id
    )
    failed = [f"{o.notebook}: {o.error} ({o.output})" for o in outcomes if o.status != "ok"]
    assert not failed, failed
    return {o.notebook: o.output for o in outcomes if o.output}


def _publish_built_images(settings: settings_module.Settings) -> list[str]:
    """Push a manifest for each of 02's build contexts to ECR, as kaniko would have (see the module docstring)."""
    contexts_dir = settings.state_dir / "build-contexts"
    contexts = {
        settings.repository: image.build_context(output_dir=contexts_dir),
        settings.ui_repository: image.build_context(
            output_dir=contexts_dir, dockerfile=image.UI_DOCKERFILE, context_dir=image.UI_CONTEXT_DIR
        ),
    }
    ecr = boto3.client("ecr", region_name=settings.region)
    pushed = []
    for repository, context in contexts.items():
        digest = hashlib.sha256(context.tarball.read_bytes()).hexdigest()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 0,
                "digest": f"sha256:{digest}",
            },
            "layers": [],
        }
        ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=context.tag)
        pushed.append(f"{repository}:{context.tag}")
    return pushed


def _remove_tensorboard_crd(admin_api: k8s_client.ApiClient) -> None:
    """Delete the Tensorboard CRD and wait until the API server no longer serves it (see the module docstring)."""
    extensions = k8s_client.ApiextensionsV1Api(admin_api)
    try:
        extensions.delete_custom_resource_definition(TENSORBOARD_CRD)
    except k8s_client.ApiException as e:
        if e.status != 404:
            raise
    groups = k8s_client.ApisApi(admin_api)
    deadline = time.monotonic() + WAIT_S
    while any(group.name == TENSORBOARD_CRD.split(".", 1)[1] for group in groups.get_api_versions().groups):
        assert time.monotonic() < deadline, f"{TENSORBOARD_CRD} is still served"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def series(
    control_plane: Any,
    training_operator: Any,
    node: agent.NodeAgent,
    admin_api: k8s_client.ApiClient,
    e2e_dir: pathlib.Path,
) -> Series:
    """Run 01, publish the images 02 would have built, run 02-06; once for the module."""
    state_dir = e2e_dir / "notebooks"
    parameters = _parameters(state_dir)
    kubeconfig = control_plane.kubeconfig_for(namespace=NAMESPACE, service_account="default-editor")
    run_id = pipeline.new_run_id()
    _remove_tensorboard_crd(admin_api)
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KUBECONFIG", str(kubeconfig))
        for name, value in node.outside_env(NAMESPACE).items():  # the kernels resolve cluster names
            env.setenv(name, value)
        executed = _run(parameters, FIRST, e2e_dir / "runs", run_id)
        settings = settings_module.load(state_dir=str(state_dir))
        pushed = _publish_built_images(settings)
        print(f"02's kaniko build not run here (see the module docstring); published as built: {pushed}")
        executed |= _run(parameters, REST, e2e_dir / "runs", run_id)
    return Series(executed=executed, settings=settings, run_id=run_id, seconds=time.monotonic() - started)


def _outputs(notebook: pathlib.Path) -> str:
    """Every text a notebook's cells printed or displayed, in order."""
    texts = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def test_the_series_runs_as_default_editor_with_the_real_operator_and_controllers(series: Series) -> None:
    print(f"notebooks 01-06 on the control plane in {series.seconds:.0f} s")
    settings = series.settings
    assert settings.backend == "kubeflow" and settings.namespace == NAMESPACE
    images = [state.load(settings.state_dir, state.Image, section=s) for s in ("image", "ui_image")]
    assert all(record.uri.startswith("123456789012.dkr.ecr.us-west-2.amazonaws.com/") for record in images), images
    assert "exists" in _outputs(series.executed["02_build_image"])
    trained = state.load(settings.state_dir, state.Training)
    assert trained.test_accuracy > 0.5, trained
    assert "final: steps=40" in _outputs(series.executed["03_train"])  # the chief's log, read through the API
    tensorboard = _outputs(series.executed["04_tensorboard"])
    assert "TensorBoard found" in tensorboard and "found 0 run" not in tensorboard, tensorboard
    assert f"{settings.app_name}-tensorboard" in tensorboard
    summary = state.summary(settings.state_dir).values(run_id=series.run_id)
    served_accuracy = float(summary["served accuracy"].split()[0])  # "0.8650 on 200 test digits"
    print(f"test accuracy {trained.test_accuracy:.4f}, served accuracy {served_accuracy:.4f}")
    assert served_accuracy > 0.5 and summary["web UI"].startswith(f"http://{settings.app_name}-ui."), summary
    served = state.load(settings.state_dir, state.Serving)
    assert served.url.startswith(f"http://{settings.app_name}-serving.{NAMESPACE}.svc"), served


def test_the_ui_survives_a_deleted_serving_pod(
    series: Series, node: agent.NodeAgent, admin_api: k8s_client.ApiClient
) -> None:
    """06's UI resolved the serving Service once; the serving pod is deleted, the Deployment replaces it,
    and the UI answers again through the same Service address, as through a cluster's Service IP."""
    settings = series.settings
    ui_url = node.resolve(f"http://{settings.app_name}-ui.{NAMESPACE}.svc.cluster.local", namespace=NAMESPACE)
    assert len(_get_json(f"{ui_url}/api/random")["probabilities"]) == 10
    core = k8s_client.CoreV1Api(admin_api)
    selector = f"app={settings.app_name}-serving"
    [old] = core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
    core.delete_namespaced_pod(old.metadata.name, NAMESPACE)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
        if len(pods) == 1 and pods[0].metadata.uid != old.metadata.uid and _ready(pods[0]):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the Deployment did not replace the deleted serving pod")
    assert len(_get_json(f"{ui_url}/api/random")["probabilities"]) == 10


def _get_json(url: str) -> Any:
    """The JSON at `url`, asked again while the server is not there yet or answers 502, up to WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            # 502: the UI could not reach the model server, as for a moment after a new serving pod is
            # Ready and before the Service's proxy routes to it (kube-proxy lags the same way).
            if e.code != 502 or time.monotonic() > deadline:
                raise
            time.sleep(1)
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
