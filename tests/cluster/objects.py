"""Manifests and controller-made objects (pods) for the cluster contract tests."""

from __future__ import annotations

from typing import Any

NAMESPACE = "kubeflow-user-example-com"


def config_map(name: str = "settings", *, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    """A ConfigMap manifest as `helpers.manifests.render` would return it."""
    metadata: dict[str, Any] = {"name": name, "labels": labels or {"app.kubernetes.io/part-of": "kubeflow-mnist"}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {"key": "value"}}


def tfjob(name: str = "mnist", *, workers: int = 2) -> dict[str, Any]:
    """A TFJob manifest with a chief, one ps and `workers` workers."""

    def replica(count: int) -> dict[str, Any]:
        container = {"name": "tensorflow", "image": "registry/mnist:1", "command": ["python", "/opt/model.py"]}
        return {"replicas": count, "restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}

    specs = {"Chief": replica(1), "PS": replica(1), "Worker": replica(workers)}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "TFJob",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "kubeflow-mnist"}},
        "spec": {"runPolicy": {"cleanPodPolicy": "None"}, "tfReplicaSpecs": specs},
    }


def pod(name: str, *, labels: dict[str, str], containers: tuple[str, ...] = ("tensorflow",)) -> dict[str, Any]:
    """A pod as a controller would have created it in NAMESPACE."""
    spec = {"containers": [{"name": container, "image": "registry/mnist:1"} for container in containers]}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": spec,
    }
