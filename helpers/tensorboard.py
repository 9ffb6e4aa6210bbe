"""Choose how 04 runs TensorBoard, then find and check it: its URL, its way in, its runs.

Where the cluster serves Kubeflow's `Tensorboard` API, a Tensorboard resource runs it (Kubeflow's
controller makes the pod, the Service and the gateway route, none of which a profile needs rights
for) on a volume that a sync pod fills from S3. Elsewhere (the local backend, a cluster without
the controller) our own Deployment and Service run it under `/<app_name>/<namespace>/tensorboard/`
(its --path_prefix), and its VirtualService is applied only where the profile may.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import requests

from helpers import errors, manifests, routes, settings as settings_module, workloads
from helpers.backends import base

# Seconds one request to TensorBoard may take; it answers /data/runs from memory.
REQUEST_TIMEOUT_S = 10.0
# TensorBoard rescans its logdir every 5 s by default; poll a little faster than that.
POLL_S = 2.0
# Kubeflow's Tensorboard API; discovery decides whether a cluster has its controller.
GROUP_VERSION = "tensorboard.kubeflow.org/v1alpha1"
RESOURCE_KINDS = ("PersistentVolumeClaim", "Tensorboard")
FALLBACK_KINDS = ("Deployment", "Service", "VirtualService")
SYNC_CONTAINER = "s3-sync"
# The label Kubeflow's controller puts on a Tensorboard's pods: app=<Tensorboard name>.
CONTROLLER_POD_LABEL = "app"


@dataclasses.dataclass(frozen=True)
class Plan:
    """How TensorBoard runs here: what to deploy, the path it serves at and the gateway path."""

    resources: list[manifests.Resource]
    kubeflow_resource: bool
    """True: Kubeflow's Tensorboard resource; False: our own Deployment, Service and optional route."""
    service_path: str
    """The path TensorBoard's page has on its Service."""
    gateway_path: str
    """The page's path on the Kubeflow gateway (when a route exists)."""

    @property
    def description(self) -> str:
        """One sentence for the notebook: which way was chosen and why."""
        if self.kubeflow_resource:
            return (
                f"The cluster serves {GROUP_VERSION}: a Kubeflow Tensorboard resource runs TensorBoard on a volume"
                f" synced from S3; Kubeflow routes {self.gateway_path} on the gateway and lists it under TensorBoards."
            )
        return (
            f"No Kubeflow Tensorboard API here: TensorBoard runs as our own Deployment and Service, serving under"
            f" {self.service_path}; on a cluster its gateway route is applied only where this ServiceAccount may."
        )


def path_prefix(settings: settings_module.Settings) -> str:
    """The path our own TensorBoard Deployment serves under (its --path_prefix), locally and on a cluster."""
    return f"/{settings.app_name}/{settings.namespace}/tensorboard/"


def plan(
    backend: base.Backend,
    *,
    settings: settings_module.Settings,
    logdir_uri: str,
    image: str = workloads.TENSORBOARD_IMAGE,
) -> Plan:
    """Decide by API discovery how to run TensorBoard on `logdir_uri` (an s3:// run folder in the bucket).

    `image` runs our own Deployment; Kubeflow's controller runs its own image. Raises ValueError when
    `logdir_uri` is not in the bucket, ClusterError when discovery fails.
    """
    rendered = workloads.tensorboard(settings=settings, logdir_uri=logdir_uri, image=image)
    if not backend.serves(GROUP_VERSION):
        return Plan(
            resources=fallback_resources(rendered),
            kubeflow_resource=False,
            service_path=path_prefix(settings),
            gateway_path=path_prefix(settings),
        )
    name = f"{settings.app_name}-tensorboard"
    return Plan(
        resources=kubeflow_resources(rendered),
        kubeflow_resource=True,
        service_path="/",
        gateway_path=f"/tensorboard/{settings.namespace}/{name}/",
    )


def fallback_resources(rendered: list[manifests.Resource]) -> list[manifests.Resource]:
    """Of manifests/tensorboard.yaml: our own Deployment, its Service and its (optional) VirtualService."""
    return [resource for resource in rendered if resource["kind"] in FALLBACK_KINDS]


def kubeflow_resources(rendered: list[manifests.Resource]) -> list[manifests.Resource]:
    """Of manifests/tensorboard.yaml: the claim, the Tensorboard resource and the Deployment that syncs the claim."""
    return [*(resource for resource in rendered if resource["kind"] in RESOURCE_KINDS), sync_deployment(rendered)]


def sync_deployment(rendered: list[manifests.Resource]) -> manifests.Resource:
    """The Deployment that keeps the Tensorboard's claim in sync with S3, made from our TensorBoard Deployment.

    The same `s3-sync` container (one definition in manifests/tensorboard.yaml), writing to the
    claim instead of a pod-local folder, in a pod placed on the node of TensorBoard's pod so that a
    ReadWriteOnce volume works. Raises ConfigError when the rendered manifests lack a part.
    """
    deployment = copy.deepcopy(manifests.find(rendered, "Deployment"))
    claim = manifests.find(rendered, "PersistentVolumeClaim")["metadata"]["name"]
    tensorboard_name = manifests.find(rendered, "Tensorboard")["metadata"]["name"]
    name = f"{deployment['metadata']['name']}-sync"
    deployment["metadata"]["name"] = name
    pod: dict[str, Any] = deployment["spec"]["template"]
    deployment["spec"]["selector"]["matchLabels"] = {"app": name}
    pod["metadata"]["labels"]["app"] = name
    containers = [container for container in pod["spec"]["containers"] if container["name"] == SYNC_CONTAINER]
    if not containers:
        raise errors.ConfigError("manifests/tensorboard.yaml", SYNC_CONTAINER, "the Deployment has no such container")
    pod["spec"]["containers"] = containers
    pod["spec"]["volumes"] = [{"name": "logs", "persistentVolumeClaim": {"claimName": claim}}]
    pod["spec"]["affinity"] = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {CONTROLLER_POD_LABEL: tensorboard_name}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    return deployment


def url(service_urls: dict[str, str], *, settings: settings_module.Settings, plan: Plan | None = None) -> str:
    """TensorBoard's page URL from the Service URLs `deploy` returned; raises ConfigError when absent."""
    service_url = workloads.service_url(service_urls, settings=settings, component="tensorboard")
    return service_url.rstrip("/") + (plan.service_path if plan else path_prefix(settings))


def ways_in(plan: Plan, *, backend: base.Backend, page_url: str) -> str:
    """Where to open TensorBoard after `backend.deploy(plan.resources)`: here, on the gateway, or around it."""
    if plan.kubeflow_resource:
        return f"Here: {page_url}\nThrough the Kubeflow gateway: https://<your Kubeflow host>{plan.gateway_path}"
    return routes.ways_in(plan.resources, backend=backend, page_url=page_url)


def runs(page_url: str) -> list[str]:
    """The runs TensorBoard has found in its logdir (its own /data/runs endpoint)."""
    try:
        answer = requests.get(page_url + "data/runs", timeout=REQUEST_TIMEOUT_S)
        answer.raise_for_status()
    except requests.RequestException as e:
        raise errors.ProcessFailed(f"TensorBoard at {page_url}", 1, tail=str(e)) from e
    found = answer.json()
    if not isinstance(found, list):
        raise errors.ProcessFailed(f"TensorBoard at {page_url}", 1, tail=f"unexpected /data/runs answer: {found!r}")
    return sorted(str(run) for run in found)


def wait_for_runs(page_url: str, *, timeout_s: float) -> list[str]:
    """Poll until TensorBoard has found at least one run; raises WaitTimeout after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = runs(page_url)
        if found:
            return found
        if time.monotonic() >= deadline:
            raise errors.WaitTimeout(f"TensorBoard at {page_url} to find runs", timeout_s, last_state="no runs yet")
        time.sleep(POLL_S)
