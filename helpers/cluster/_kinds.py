"""The resource kinds this project sends to a cluster, and the REST paths that reach them.

A fixed table instead of API discovery: the manifests use a known, small set of kinds, a
lookup needs no extra round trip or discovery cache on disk, and an unknown kind fails at once
with a ConfigError that lists the supported ones.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from helpers import errors


@dataclasses.dataclass(frozen=True)
class Kind:
    """One resource type: its `apiVersion`, `kind`, plural resource name and whether it lives in a namespace."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        """The API group; "" for the core group."""
        return self.api_version.rpartition("/")[0]

    @property
    def resource(self) -> str:
        """The name RBAC rules use for it, e.g. `tfjobs.kubeflow.org` or `secrets`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, *, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of the collection, or of one object (and its subresource) when `name` is given.

        A cluster-scoped kind's path has no namespace part; `namespace` is then ignored.
        """
        root = f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}"
        path = f"{root}/namespaces/{namespace}/{self.plural}" if self.namespaced else f"{root}/{self.plural}"
        if name is not None:
            path += f"/{name}"
            if subresource is not None:
                path += f"/{subresource}"
        return path


KINDS = {
    kind.kind: kind
    for kind in (
        Kind("v1", "Secret", "secrets"),
        Kind("v1", "ServiceAccount", "serviceaccounts"),
        Kind("v1", "ConfigMap", "configmaps"),
        Kind("v1", "Service", "services"),
        Kind("v1", "Pod", "pods"),
        Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        Kind("apps/v1", "Deployment", "deployments"),
        Kind("batch/v1", "Job", "jobs"),
        Kind("kubeflow.org/v1", "TFJob", "tfjobs"),
        # Kubeflow Trainer v2: the job notebook 03 submits, and the runtime an administrator installs.
        Kind("trainer.kubeflow.org/v1alpha1", "TrainJob", "trainjobs"),
        Kind("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime", "clustertrainingruntimes", namespaced=False),
        Kind("networking.istio.io/v1", "VirtualService", "virtualservices"),
        Kind("tensorboard.kubeflow.org/v1alpha1", "Tensorboard", "tensorboards"),
    )
}


def by_name(kind: str) -> Kind:
    """The supported kind called `kind` (e.g. "TFJob"); raises ConfigError for any other."""
    if kind not in KINDS:
        raise errors.ConfigError("kind", kind, f"is not a supported kind; supported: {sorted(KINDS)}")
    return KINDS[kind]


def of(resource: dict[str, Any]) -> Kind:
    """The kind of a resource dict; raises ConfigError when its kind or apiVersion is not supported."""
    kind = by_name(str(resource.get("kind")))
    if resource.get("apiVersion") != kind.api_version:
        raise errors.ConfigError(
            "apiVersion", resource.get("apiVersion"), f"{kind.kind} is served as {kind.api_version} here"
        )
    return kind
