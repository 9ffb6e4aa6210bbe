"""Offline validation of rendered manifests, so a broken template fails in a test, not on a cluster.

Core kinds go through `kubernetes-validate`'s bundled schemas; TFJob, VirtualService and Kubeflow's
Tensorboard through their CRDs' `openAPIV3Schema` (files in `controlplane/crds/`, with their
sources). Unknown fields are errors everywhere, as with `kubectl apply`'s strict field validation.
"""

from __future__ import annotations

import copy
import functools
import pathlib
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from helpers import errors, manifests

# The newest Kubernetes whose schemas kubernetes-validate 1.37.0 ships (its `all_versions()`
# ends at 1.37.0); current EKS releases are at or below it, so a field it rejects is wrong on EKS too.
KUBERNETES_VERSION = "1.37.0"
# The CRDs, kept in the repository with their source tags (controlplane/crds/README.md).
SCHEMAS_DIR = manifests.MANIFESTS_DIR.parent / "controlplane" / "crds"
CRD_FILES = {
    "TFJob": "kubeflow.org_tfjobs.yaml",
    "VirtualService": "istio-virtualservice-crd.yaml",
    "Tensorboard": "tensorboard.kubeflow.org_tensorboards.yaml",
    # Kubeflow Trainer v2.3.0 (controlplane/crds/README.md): notebook 03's TrainJob and the runtime it names.
    "TrainJob": "trainer.kubeflow.org_trainjobs.yaml",
    "ClusterTrainingRuntime": "trainer.kubeflow.org_clustertrainingruntimes.yaml",
}


def validate(resource: manifests.Resource, *, schemas_dir: pathlib.Path = SCHEMAS_DIR) -> str:
    """Check one rendered resource against its kind's schema; returns the name of the schema used.

    Raises ConfigError naming the resource, the field path and what is wrong.
    """
    kind = resource.get("kind")
    if kind in CRD_FILES:
        return _validate_custom(resource, schemas_dir=schemas_dir)
    try:
        version = kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        raise _error(resource, e, f"Kubernetes {e.version} schema") from e
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.utils.VersionNotSupportedError) as e:
        raise errors.ConfigError("manifest", _describe(resource), e.message) from e
    _check_selector(resource)
    return f"Kubernetes {version}"


def validate_all(resources: list[manifests.Resource], *, schemas_dir: pathlib.Path = SCHEMAS_DIR) -> list[str]:
    """Check every resource (see `validate`); returns the schema used for each, in order."""
    return [validate(resource, schemas_dir=schemas_dir) for resource in resources]


def crd_schema(kind: str, api_version: str, *, schemas_dir: pathlib.Path = SCHEMAS_DIR) -> dict[str, Any]:
    """The closed `openAPIV3Schema` of `kind` at `api_version` from its CRD file (unknown fields rejected).

    Raises ConfigError when the schema folder or file is missing or the version is not served.
    """
    if not schemas_dir.is_dir():
        raise errors.ConfigError(
            "schemas_dir",
            str(schemas_dir),
            "CRD schemas not found; they ship with the repository in controlplane/crds/",
        )
    path = schemas_dir / CRD_FILES[kind]
    if not path.is_file():
        raise errors.ConfigError("schemas_dir", str(schemas_dir), f"{path.name} is missing; it holds the {kind} CRD")
    group, _, version = api_version.rpartition("/")
    served = _crd_versions(path, group, kind)
    if version not in served:
        raise errors.ConfigError("apiVersion", api_version, f"{path.name} serves {kind} only as {sorted(served)}")
    # A copy: callers may extend it, and the cached original must stay as the CRD says.
    return copy.deepcopy(served[version])


@functools.cache
def _crd_versions(path: pathlib.Path, group: str, kind: str) -> dict[str, dict[str, Any]]:
    # Cached per file: the TFJob CRD is half a megabyte of YAML, read once per process.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        documents = list(yaml.load_all(path.read_text(), Loader=loader))
    except (OSError, yaml.YAMLError) as e:
        raise errors.ConfigError("schemas_dir", str(path), f"cannot read the CRD: {e}") from e
    for crd in documents:
        spec = (crd or {}).get("spec") or {}
        if spec.get("group") == group and (spec.get("names") or {}).get("kind") == kind:
            return {
                version["name"]: _closed(version["schema"]["openAPIV3Schema"])
                for version in spec["versions"]
                if version.get("served")
            }
    return {}


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """Reject fields a structural schema does not name, as the API server's strict validation does."""
    closed = dict(schema)
    if "properties" in closed:
        closed["properties"] = {name: _closed(child) for name, child in closed["properties"].items()}
        if "additionalProperties" not in closed and not closed.get("x-kubernetes-preserve-unknown-fields"):
            closed["additionalProperties"] = False
    for key in ("items", "not"):
        if isinstance(closed.get(key), dict):
            closed[key] = _closed(closed[key])
    if isinstance(closed.get("additionalProperties"), dict):
        closed["additionalProperties"] = _closed(closed["additionalProperties"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in closed:
            closed[key] = [_closed(child) for child in closed[key]]
    return closed


def _validate_custom(resource: manifests.Resource, *, schemas_dir: pathlib.Path) -> str:
    kind = str(resource["kind"])
    api_version = str(resource.get("apiVersion"))
    schema = crd_schema(kind, api_version, schemas_dir=schemas_dir)
    # Some CRDs (Istio's) leave apiVersion, kind and metadata out of their schema; the API
    # server always knows them, so the check does too.
    schema["properties"].update({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {}})
    schema["additionalProperties"] = False
    _check(resource, schema, f"{kind} CRD schema")
    _check_metadata(resource)
    return f"{CRD_FILES[kind]} {api_version}"


def _check_selector(resource: manifests.Resource) -> None:
    # The API server refuses a Deployment whose selector does not match its own pod template;
    # no JSON schema can say that, so check it here.
    spec = resource.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels")
    if selector is None or "template" not in spec:
        return
    labels = (spec["template"].get("metadata") or {}).get("labels") or {}
    if not selector.items() <= labels.items():
        reason = f"spec.selector.matchLabels {selector} does not match the pod labels {labels}"
        raise errors.ConfigError("manifest", _describe(resource), reason)


def _check_metadata(resource: manifests.Resource) -> None:
    # CRD schemas leave metadata as a bare object; the API server checks it as ObjectMeta, so
    # validate it the same way, carried by the simplest core kind that has one.
    carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": resource.get("metadata")}
    try:
        kubernetes_validate.validate(carrier, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        raise _error(resource, e, f"Kubernetes {e.version} ObjectMeta") from e


def _check(resource: manifests.Resource, schema: dict[str, Any], against: str) -> None:
    try:
        jsonschema.Draft202012Validator(schema).validate(resource)
    except jsonschema.ValidationError as e:
        raise _error(resource, e, against) from e


def _error(resource: manifests.Resource, error: jsonschema.ValidationError, against: str) -> errors.ConfigError:
    path = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    return errors.ConfigError("manifest", _describe(resource), f"{path}: {error.message} (against the {against})")


def _describe(resource: manifests.Resource) -> str:
    metadata = resource.get("metadata") or {}
    return f"{resource.get('kind')}/{metadata.get('name')}"
