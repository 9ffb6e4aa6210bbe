"""Which training API a cluster serves (TFJob, TrainJob, both, neither), and how its Trainer writes a TrainJob.

Kubeflow 1.10 ships the training operator v1 (TFJob); 1.11 and 26.03 install Kubeflow Trainer v2
(TrainJob on JobSet) instead, and a TrainJob needs a runtime that only an administrator can install.
Discovery reads the two group-version documents, which every authenticated user may read, and the
runtime by name (Trainer binds `get` on ClusterTrainingRuntimes to system:authenticated).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from helpers import errors, settings as settings_module
from helpers.cluster import _api, _fetch, _kinds

logger = logging.getLogger(__name__)

TFJOB_API = "kubeflow.org/v1"
TRAINER_API = "trainer.kubeflow.org/v1alpha1"
# What an administrator runs once, from a clone of this repository, to install the runtime.
RUNTIME_MANIFEST = "manifests/tf-ps-runtime.yaml"
INSTALL_RUNTIME = f"kubectl apply -f {RUNTIME_MANIFEST}"
_INSTALL_TRAINER = "Kubeflow Trainer v2 (the default of Kubeflow 1.11 and 26.03)"
_INSTALL_OPERATOR = "the training operator v1.9 (standalone, kubeflow/trainer release-1.9)"


@dataclasses.dataclass(frozen=True)
class Served:
    """What the cluster offers for training."""

    tfjob: bool
    """TFJob (kubeflow.org/v1) is served: the training operator v1 is installed."""
    trainjob: bool
    """TrainJob (trainer.kubeflow.org/v1alpha1) is served: Kubeflow Trainer v2 is installed."""
    runtime: dict[str, Any] | None
    """The ClusterTrainingRuntime the TrainJob names, or None when it is not installed."""
    runtime_unreadable: bool = False
    """This identity may not read ClusterTrainingRuntimes (Trainer installed without its Kubeflow overlay,
    which lets every authenticated user read them); `runtime` is then a stand-in: an empty dict."""


def served_resources(api_version: str, *, api: Any, settings: settings_module.Settings) -> set[str]:
    """The resource names (e.g. "tfjobs") that group version `api_version` serves; empty when it is not served.

    Raises ClusterError when the API server refuses or fails the discovery request.
    """
    answer = _document(
        f"/apis/{api_version}", api_version=api_version, action="discover", absent={404}, api=api, settings=settings
    )
    return {str(resource.get("name")) for resource in (answer or {}).get("resources") or []}


def _document(
    path: str, *, api_version: str, action: str, absent: set[int], api: Any, settings: settings_module.Settings
) -> dict[str, Any] | None:
    """The document at `path` about group version `api_version`, or None when the server answers a status in
    `absent`; raises ClusterError otherwise. Such documents are no object of a kind, so RBAC names no resource."""
    call = _api.Call(verb="get", path=path, action=action, target=f"API group version {api_version}", rbac_resource="")
    return _fetch.request_or_none(call, api=api, settings=settings, absent=absent)


def discover(*, api: Any, settings: settings_module.Settings, runtime_name: str) -> Served:
    """Ask the cluster which training APIs it serves and whether runtime `runtime_name` is installed."""
    tfjob = "tfjobs" in served_resources(TFJOB_API, api=api, settings=settings)
    trainer = served_resources(TRAINER_API, api=api, settings=settings)
    runtime = None
    unreadable = False
    if "trainjobs" in trainer and "clustertrainingruntimes" in trainer:
        kind = _kinds.by_name("ClusterTrainingRuntime")
        try:
            runtime = _fetch.get_or_none(
                kind, runtime_name, api=api, settings=settings, namespace=settings.namespace, action="read"
            )
        except errors.ClusterError as e:
            if e.status != 403:
                raise
            # Trainer's admission webhook still refuses a TrainJob whose runtime is missing, with its own words.
            logger.warning("may not read ClusterTrainingRuntime %r (%s): assuming it is installed", runtime_name, e)
            runtime, unreadable = {}, True
    return Served(tfjob=tfjob, trainjob="trainjobs" in trainer, runtime=runtime, runtime_unreadable=unreadable)


def trainjob_spec_fields(*, api: Any, settings: settings_module.Settings) -> set[str] | None:
    """The fields of TrainJob's `spec` that the cluster's Trainer release knows, from its OpenAPI v3 document.

    None when the server publishes no such document (or refuses it): then the newest fields are assumed.
    Raises ClusterError for other failures.
    """
    answer = _document(
        f"/openapi/v3/apis/{TRAINER_API}",
        api_version=TRAINER_API,
        action="read the schema of",
        absent={403, 404},
        api=api,
        settings=settings,
    )
    for schema in (((answer or {}).get("components") or {}).get("schemas") or {}).values():
        kinds = [gvk.get("kind") for gvk in schema.get("x-kubernetes-group-version-kind") or []]
        if "TrainJob" in kinds:
            return set((schema.get("properties") or {}).get("spec", {}).get("properties") or {})
    return None


def for_trainer(job: dict[str, Any], fields: set[str] | None) -> dict[str, Any]:
    """`job` (a TrainJob rendered for Trainer v2.2+) as the cluster's Trainer takes it, given its `spec` `fields`.

    Trainer v2.1 (Kubeflow 1.11) names the pods' ServiceAccount in `podTemplateOverrides` instead of
    `runtimePatches` and has no `activeDeadlineSeconds` (the notebook's own wait still ends a stuck run);
    other fields a release does not know are left out with a warning. `job` itself is never changed; with
    no fields known (None or empty: no schema published) it is returned as it is.
    """
    if not fields:
        return job
    spec = dict(job["spec"])
    for field in sorted(set(spec) - fields):
        value = spec.pop(field)
        if field == "runtimePatches" and "podTemplateOverrides" in fields:
            spec["podTemplateOverrides"] = [_as_override(patch) for patch in value]
        else:
            logger.warning("this cluster's Trainer has no TrainJob field spec.%s: left out", field)
    return {**job, "spec": spec}


def _as_override(patch: dict[str, Any]) -> dict[str, Any]:
    """A v2.2+ runtime patch of pod specs as a v2.1 podTemplateOverride (ServiceAccount and such)."""
    jobs = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec", {}).get("replicatedJobs") or []
    pod_specs = [job["template"]["spec"]["template"].get("spec") or {} for job in jobs]
    if any(pod_spec != pod_specs[0] for pod_spec in pod_specs):
        raise errors.ConfigError(
            "runtimePatches", patch.get("manager"), "Trainer v2.1 takes one pod override per patch"
        )
    return {"targetJobs": [{"name": job["name"]} for job in jobs], "spec": pod_specs[0] if pod_specs else {}}


def choose(wanted: str, served: Served, *, runtime_name: str) -> str:
    """The API to train with, "tfjob" or "trainjob", for the setting `training_api` = `wanted`.

    `auto` takes TrainJob when Trainer v2 is served and the runtime is installed (the API Kubeflow
    installs today), else TFJob. Raises ClusterError saying what to install (with the administrator's
    command for a missing runtime) when the wanted API, or with `auto` any API, is not there.
    """
    target = "training_api=" + wanted
    missing_runtime = errors.ClusterError(
        "train with",
        target,
        f"the ClusterTrainingRuntime {runtime_name!r} is not installed; kubeflow-edit may only read runtimes, so "
        f"an administrator installs it once: `{INSTALL_RUNTIME}`",
    )
    if wanted == "tfjob":
        if not served.tfjob:
            instead = "; this cluster runs Kubeflow Trainer v2: use training_api=trainjob" if served.trainjob else ""
            raise errors.ClusterError(
                "train with", target, f"TFJob ({TFJOB_API}) is not served: install {_INSTALL_OPERATOR}{instead}"
            )
        return "tfjob"
    if wanted == "trainjob":
        if not served.trainjob:
            raise errors.ClusterError(
                "train with", target, f"TrainJob ({TRAINER_API}) is not served: install {_INSTALL_TRAINER}"
            )
        if served.runtime is None:
            raise missing_runtime
        return "trainjob"
    if wanted != "auto":
        raise errors.ConfigError("training_api", wanted, "must be auto, tfjob or trainjob")
    if served.trainjob and served.runtime is not None:
        return "trainjob"
    if served.tfjob:
        if served.trainjob:
            logger.warning(
                "Trainer v2 is installed but not the %r runtime (`%s`): using TFJob", runtime_name, INSTALL_RUNTIME
            )
        return "tfjob"
    if served.trainjob:
        raise missing_runtime
    raise errors.ClusterError(
        "train with",
        target,
        f"this cluster serves neither TrainJob ({TRAINER_API}) nor TFJob ({TFJOB_API}): install {_INSTALL_TRAINER} "
        f"and then `{INSTALL_RUNTIME}`, or {_INSTALL_OPERATOR}",
    )
