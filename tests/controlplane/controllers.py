"""The parts of a cluster these fixtures lack, played by the admin for one namespace: a kubelet, Kubeflow's
tensorboard controller and the pvc-protection controller.

The control plane here runs no kubelet, no Kubeflow controllers and no pvc-protection controller, so a
Deployment never becomes available, a `Tensorboard` never gets its Deployment and a deleted PVC keeps its
`kubernetes.io/pvc-protection` finalizer forever. `Playing` does their part from a background thread, writing
only what they write (pod status, the Tensorboard's owned Deployment, the finalizer's removal), so the real
deployment, replicaset, job and garbage-collector controllers do the rest.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from typing import Any

from controlplane import cluster as cluster_module, errors as controlplane_errors

# Seconds between two rounds: fast enough for sub-second rollouts, light on a shared 2-core machine.
INTERVAL_S = 0.15
PVC_PROTECTION = "kubernetes.io/pvc-protection"
MERGE = "application/merge-patch+json"

Outcome = Callable[[dict[str, Any]], str | None]


def default_outcome(pod: dict[str, Any]) -> str | None:
    """A Job's pod succeeds, any other pod runs and is ready."""
    owners = {owner["kind"] for owner in pod["metadata"].get("ownerReferences") or []}
    return "Succeeded" if "Job" in owners else "Ready"


class Playing:
    """A background thread that plays a kubelet (pods run and become ready, or end), Kubeflow's tensorboard
    controller and the pvc-protection controller in `namespace`; use it as a context manager.

    `outcome(pod)` says what the kubelet makes of a pod: "Ready", "Succeeded", "Failed" or None (left Pending).
    With `node`, each pod is first bound to that node; no Node object of that name exists, so the API server
    cannot reach its kubelet, as when an autoscaler has removed the node since.
    """

    def __init__(
        self,
        control_plane: cluster_module.Cluster,
        namespace: str,
        *,
        outcome: Outcome = default_outcome,
        node: str | None = None,
    ) -> None:
        self.control_plane = control_plane
        self.namespace = namespace
        self.outcome = outcome
        self.node = node
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[str] = []

    def __enter__(self) -> Playing:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            try:
                self.round()
            except controlplane_errors.ControlPlaneError as e:  # a race with a deletion: try again next round
                self.errors.append(str(e))

    def round(self) -> None:
        """One pass of each stand-in controller."""
        self._tensorboards()
        self._pods()
        self._pvcs()

    def _list(self, path: str) -> list[dict[str, Any]]:
        return self.control_plane.request("GET", path).get("items") or []

    def _pods(self) -> None:
        for pod in self._list(f"/api/v1/namespaces/{self.namespace}/pods"):
            metadata, status = pod["metadata"], pod.get("status") or {}
            if metadata.get("deletionTimestamp") or status.get("phase") != "Pending":
                continue
            outcome = self.outcome(pod)
            if outcome is None:
                continue
            if self.node and not pod["spec"].get("nodeName"):
                binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": metadata["name"]}}
                self.control_plane.request(
                    "POST",
                    f"/api/v1/namespaces/{self.namespace}/pods/{metadata['name']}/binding",
                    body={**binding, "target": {"apiVersion": "v1", "kind": "Node", "name": self.node}},
                )
            now = _now()
            names = [container["name"] for container in pod["spec"]["containers"]]
            if outcome == "Ready":
                new_status: dict[str, Any] = {
                    "phase": "Running",
                    "startTime": now,
                    "conditions": [
                        {"type": kind, "status": "True", "lastTransitionTime": now}
                        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
                    ],
                    "containerStatuses": [_container(name, pod, {"running": {"startedAt": now}}) for name in names],
                }
            else:
                code = 0 if outcome == "Succeeded" else 1
                state = {
                    "terminated": {
                        "exitCode": code,
                        "reason": "Completed" if code == 0 else "Error",
                        "startedAt": now,
                        "finishedAt": now,
                    }
                }
                new_status = {
                    "phase": outcome,
                    "startTime": now,
                    "containerStatuses": [_container(name, pod, state) for name in names],
                }
            self.control_plane.request(
                "PATCH",
                f"/api/v1/namespaces/{self.namespace}/pods/{metadata['name']}/status",
                body={"status": new_status},
                content_type=MERGE,
            )

    def _pvcs(self) -> None:
        for claim in self._list(f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims"):
            metadata = claim["metadata"]
            finalizers = metadata.get("finalizers") or []
            if metadata.get("deletionTimestamp") and PVC_PROTECTION in finalizers:
                # No pod uses it (no kubelet runs any): the controller would remove its finalizer.
                kept = [finalizer for finalizer in finalizers if finalizer != PVC_PROTECTION]
                self.control_plane.request(
                    "PATCH",
                    f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims/{metadata['name']}",
                    body={"metadata": {"finalizers": kept or None}},
                    content_type=MERGE,
                )

    def _tensorboards(self) -> None:
        boards = self._list(f"/apis/tensorboard.kubeflow.org/v1alpha1/namespaces/{self.namespace}/tensorboards")
        if not boards:
            return
        have = {
            item["metadata"]["name"] for item in self._list(f"/apis/apps/v1/namespaces/{self.namespace}/deployments")
        }
        for board in boards:
            metadata = board["metadata"]
            if metadata["name"] in have or metadata.get("deletionTimestamp"):
                continue
            self.control_plane.request(
                "POST",
                f"/apis/apps/v1/namespaces/{self.namespace}/deployments",
                body=tensorboard_deployment(board),
            )


def tensorboard_deployment(board: dict[str, Any]) -> dict[str, Any]:
    """The Deployment Kubeflow's tensorboard controller makes for a `Tensorboard`: its name, owned by it."""
    metadata = board["metadata"]
    labels = {"app": metadata["name"]}
    container = {"name": "tensorboard", "image": "tensorflow/tensorflow:2.21.0", "args": ["tensorboard"]}
    owner = {
        "apiVersion": board["apiVersion"],
        "kind": board["kind"],
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": metadata["name"], "namespace": metadata["namespace"], "ownerReferences": [owner]},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def _container(name: str, pod: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    image = next(container["image"] for container in pod["spec"]["containers"] if container["name"] == name)
    running = "running" in state
    return {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": running,
        "started": running,
        "restartCount": 0,
        "state": state,
    }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
