"""A namespace made the way a Kubeflow profile is, and the CRDs the series uses, on the control plane.

Kubeflow's profile controller labels the namespace (Pod Security `baseline` from v1.10 on), creates
the ServiceAccounts `default-editor` and `default-viewer`, and binds them to the aggregated
ClusterRoles `kubeflow-edit` and `kubeflow-view`. The rules of those roles come from
`kubeflow-rbac/<release>.yaml` (read from kubeflow/manifests at each release tag, aggregation
resolved), so the API server enforces exactly what a user of that release gets. Everything here
is applied as the admin with server-side apply, so `ensure` can run any number of times.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import subprocess
import time
from typing import Any

import yaml

from controlplane import build, cluster as cluster_module, errors, versions

DATA_DIR = pathlib.Path(__file__).resolve().parent
RELEASES = ("v1.9.1", "v1.10.2", "v1.11.0", "26.03")
# The newest release: what a user installing Kubeflow today gets.
DEFAULT_RELEASE = "26.03"
NAMESPACE = "kubeflow-user-example-com"
OWNER = "user@example.com"
FIELD_MANAGER = "kubeflow-mnist-controlplane"
APPLY = "application/apply-patch+yaml"
RBAC_GROUP = "rbac.authorization.k8s.io"
CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
# Ask for the CRDs' metadata only: the full list is megabytes.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
SOURCE_HASH = "kubeflow-mnist.dev/source-sha256"
# A CRD of ~1 MB takes a few seconds to be established on a busy machine.
ESTABLISHED_TIMEOUT_S = 60.0
# The CRDs no Go module of ours ships, kept in `crds/` with their sources.
REPOSITORY_CRDS = (
    "istio-virtualservice-crd.yaml",
    "istio-authorizationpolicy-crd.yaml",
    "tensorboard.kubeflow.org_tensorboards.yaml",
)
# (module, version, path in its zip): the CRDs of the controllers that the control plane runs.
MODULE_CRDS = (
    (
        "github.com/kubeflow/training-operator",
        versions.TRAINING_OPERATOR,
        "manifests/base/crds/kubeflow.org_tfjobs.yaml",
    ),
    ("github.com/kubeflow/trainer/v2", versions.TRAINER, "manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml"),
    (
        "github.com/kubeflow/trainer/v2",
        versions.TRAINER,
        "manifests/base/crds/trainer.kubeflow.org_trainingruntimes.yaml",
    ),
    (
        "github.com/kubeflow/trainer/v2",
        versions.TRAINER,
        "manifests/base/crds/trainer.kubeflow.org_clustertrainingruntimes.yaml",
    ),
    ("sigs.k8s.io/jobset", versions.JOBSET, "config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml"),
)


@dataclasses.dataclass(frozen=True)
class Profile:
    """A profile namespace and kubeconfigs that log in as its ServiceAccounts."""

    namespace: str
    release: str
    editor_kubeconfig: pathlib.Path
    viewer_kubeconfig: pathlib.Path


def role_name(role: str, release: str) -> str:
    """The ClusterRole name for `role` at `release`: Kubeflow's own name for the default release.

    Several releases can live side by side on one control plane (the per-release tests), so the
    others carry their release in the name.
    """
    return role if release == DEFAULT_RELEASE else f"{role}-{release.replace('.', '-')}"


def effective_rules(role: str, release: str) -> list[dict[str, Any]]:
    """The RBAC rules of `role` (kubeflow-edit, kubeflow-view) at `release`, one rule per resource."""
    if release not in RELEASES:
        raise errors.ControlPlaneError(f"unknown Kubeflow release {release!r}; known: {', '.join(RELEASES)}")
    text = (DATA_DIR / "kubeflow-rbac" / f"{release}.yaml").read_text()
    allows = yaml.load(text, Loader=yaml.CSafeLoader)["roles"][role]["allows"]
    rules = []
    for resource, verbs in sorted(allows.items()):
        group, _, name = resource.partition("/")
        rules.append({"apiGroups": ["" if group == "core" else group], "resources": [name], "verbs": sorted(verbs)})
    return rules


def ensure(cluster: cluster_module.Cluster, *, namespace: str = NAMESPACE, release: str = DEFAULT_RELEASE) -> Profile:
    """Make (or bring up to date) the CRDs and a profile namespace at `release`; returns its kubeconfigs."""
    ensure_crds(cluster)
    return make_namespace(cluster, namespace=namespace, release=release)


def make_namespace(cluster: cluster_module.Cluster, *, namespace: str, release: str = DEFAULT_RELEASE) -> Profile:
    """Make (or bring up to date) the profile namespace, its ServiceAccounts and roles, without the CRDs."""
    for role in ("kubeflow-edit", "kubeflow-view"):
        _apply(
            cluster,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role_name(role, release)},
                "rules": effective_rules(role, release),
            },
        )
    labels = {
        "app.kubernetes.io/part-of": "kubeflow-profile",
        "istio-injection": "enabled",
        "katib.kubeflow.org/metrics-collector-injection": "enabled",
        "serving.kubeflow.org/inferenceservice": "enabled",
        "pipelines.kubeflow.org/enabled": "true",
    }
    if release != "v1.9.1":  # kubeflow/manifests applications/profiles/pss, from v1.10 on
        labels["pod-security.kubernetes.io/enforce"] = "baseline"
    _apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": labels, "annotations": {"owner": OWNER}},
        },
    )
    for account, role in (("default-editor", "kubeflow-edit"), ("default-viewer", "kubeflow-view")):
        _apply(
            cluster,
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": namespace}},
        )
        _apply(
            cluster,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": account, "namespace": namespace},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role_name(role, release),
                },
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
            },
        )
    return Profile(
        namespace=namespace,
        release=release,
        editor_kubeconfig=cluster.kubeconfig_for(namespace=namespace, service_account="default-editor"),
        viewer_kubeconfig=cluster.kubeconfig_for(namespace=namespace, service_account="default-viewer"),
    )


def crd_sources() -> list[tuple[str, str]]:
    """Every CRD file the control plane installs, as (hash of its text, text): from the module zips, then `crds/`."""
    texts = [(_module_dir(module, version) / path).read_text() for module, version, path in MODULE_CRDS]
    texts += [(DATA_DIR / "crds" / name).read_text() for name in REPOSITORY_CRDS]
    return [(hashlib.sha256(text.encode()).hexdigest()[:16], text) for text in texts]


def ensure_crds(cluster: cluster_module.Cluster) -> list[str]:
    """Apply every CRD that is missing or changed and wait until each is served; returns their names.

    Server-side apply, because these exceed client-side apply's annotation limit. Each CRD carries
    the hash of its source file, so a file the server already has is neither parsed nor sent again
    (a megabyte of YAML takes seconds on each side).
    """
    installed: dict[str, list[str]] = {}
    for item in cluster.request("GET", CRDS_PATH, accept=METADATA_ONLY).get("items") or []:
        digest = item["metadata"].get("annotations", {}).get(SOURCE_HASH, "")
        installed.setdefault(digest, []).append(item["metadata"]["name"])
    names = []
    for digest, text in crd_sources():
        if digest in installed:
            names += installed[digest]
            continue
        # libyaml's loader: the pure-Python one takes seconds on these files.
        for document in yaml.load_all(text, Loader=yaml.CSafeLoader):
            if document:
                document["metadata"].setdefault("annotations", {})[SOURCE_HASH] = digest
                _apply(cluster, document)
                names.append(document["metadata"]["name"])
    deadline = time.monotonic() + ESTABLISHED_TIMEOUT_S
    for name in names:
        while not _established(cluster, name):
            if time.monotonic() > deadline:
                raise errors.ControlPlaneError(f"CRD {name} was not established after {ESTABLISHED_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
    return names


def _established(cluster: cluster_module.Cluster, name: str) -> bool:
    crd = cluster.request("GET", f"{CRDS_PATH}/{name}")
    conditions = crd.get("status", {}).get("conditions", [])
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def _module_dir(module: str, version: str) -> pathlib.Path:
    """The unpacked module zip in the Go module cache (downloaded if missing)."""
    environment = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=mod"}
    answer = subprocess.run(
        [build.go_command(), "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        cwd=build.WRAPPERS_DIR / "operators",
    )
    if answer.returncode != 0:
        raise errors.ControlPlaneError(f"go mod download {module}@{version} failed: {answer.stdout}{answer.stderr}")
    return pathlib.Path(json.loads(answer.stdout)["Dir"])


_PATHS = {
    "Namespace": "/api/v1/namespaces/{name}",
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings/{name}",
    "CustomResourceDefinition": CRDS_PATH + "/{name}",
}


def _apply(cluster: cluster_module.Cluster, document: dict[str, Any]) -> dict[str, Any]:
    metadata = document["metadata"]
    path = _PATHS[document["kind"]].format(name=metadata["name"], namespace=metadata.get("namespace", ""))
    return cluster.request(
        "PATCH", f"{path}?fieldManager={FIELD_MANAGER}&force=true", body=document, content_type=APPLY
    )


def delete_namespace(cluster: cluster_module.Cluster, namespace: str) -> None:
    """Ask for the namespace's deletion; the namespace controller removes what is in it in the background."""
    try:
        cluster.request("DELETE", f"/api/v1/namespaces/{namespace}")
    except errors.ControlPlaneError as e:
        if "HTTP 404" not in str(e):
            raise
