"""Every rendered manifest is valid offline against core schemas and CRDs; labelled and placed."""

from __future__ import annotations

import collections.abc
import pathlib
from typing import Any

import kubernetes_validate
import pytest

from helpers import errors, manifests
from tests import validation
from tests.manifests import cases

EXPECTED_SCHEMA = {
    "TFJob": "kubeflow.org_tfjobs.yaml kubeflow.org/v1",
    "VirtualService": "istio-virtualservice-crd.yaml networking.istio.io/v1",
    "Tensorboard": "tensorboard.kubeflow.org_tensorboards.yaml tensorboard.kubeflow.org/v1alpha1",
    "TrainJob": "trainer.kubeflow.org_trainjobs.yaml trainer.kubeflow.org/v1alpha1",
}


def test_the_crd_schemas_ship_with_the_repository() -> None:
    assert validation.SCHEMAS_DIR.is_dir(), f"CRD schemas not found at {validation.SCHEMAS_DIR}"
    for name in validation.CRD_FILES.values():
        assert (validation.SCHEMAS_DIR / name).is_file(), f"{name} is missing from {validation.SCHEMAS_DIR}"


def test_the_pinned_kubernetes_version_is_the_newest_the_package_ships() -> None:
    # When kubernetes-validate is upgraded, this asks for the pin to move with it.
    assert kubernetes_validate.latest_version() == validation.KUBERNETES_VERSION


def test_every_resource_matches_its_schema(resources: list[manifests.Resource]) -> None:
    used = validation.validate_all(resources)
    for resource, schema in zip(resources, used, strict=True):
        minor = ".".join(validation.KUBERNETES_VERSION.split(".")[:2])
        assert schema == EXPECTED_SCHEMA.get(resource["kind"], f"Kubernetes {minor}")


def test_every_resource_and_pod_carries_the_common_labels(
    case: cases.Case, resources: list[manifests.Resource]
) -> None:
    app_name = case.settings().app_name
    for resource in resources:
        label_sets = [resource["metadata"]["labels"]]
        spec = resource.get("spec") or {}
        label_sets += [spec["template"]["metadata"]["labels"]] if "template" in spec else []
        label_sets += [replica["template"]["metadata"]["labels"] for replica in spec.get("tfReplicaSpecs", {}).values()]
        for labels in label_sets:
            assert labels["app.kubernetes.io/part-of"] == manifests.PART_OF
            assert labels["app.kubernetes.io/name"] == app_name
            assert labels["app.kubernetes.io/component"]


def test_every_resource_lands_in_the_settings_namespace_under_the_app_name(
    case: cases.Case, resources: list[manifests.Resource]
) -> None:
    settings = case.settings()
    for resource in resources:
        assert resource["metadata"]["namespace"] == settings.namespace
        name = resource["metadata"]["name"]
        # The credentials keep fixed names the other manifests refer to.
        assert name.startswith(f"{settings.app_name}-") or name in {"aws-secret", settings.service_account}


def _set_port_text(resource: manifests.Resource) -> None:
    resource["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8500"


def _misspell_container_field(resource: manifests.Resource) -> None:
    resource["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"


def _misspell_gateways(resource: manifests.Resource) -> None:
    resource["spec"]["gateway"] = resource["spec"].pop("gateways")


def _route_port_text(resource: manifests.Resource) -> None:
    resource["spec"]["http"][-1]["route"][0]["destination"]["port"]["number"] = "80"


def _label_number(resource: manifests.Resource) -> None:
    resource["metadata"]["labels"]["version"] = 1


def _unselected_pods(resource: manifests.Resource) -> None:
    resource["spec"]["template"]["metadata"]["labels"]["app"] = "mnist-server"


def _misspell_logspath(resource: manifests.Resource) -> None:
    resource["spec"]["logsPath"] = resource["spec"].pop("logspath")


BREAKAGES: list[tuple[str, str, collections.abc.Callable[[manifests.Resource], None], str]] = [
    ("serving-default", "Deployment", _set_port_text, "containerPort: '8500' is not of type 'integer'"),
    ("ui-default", "Deployment", _misspell_container_field, "'imagePulPolicy' was unexpected"),
    ("serving-default", "Deployment", _unselected_pods, "does not match the pod labels"),
    ("ui-default", "VirtualService", _misspell_gateways, "'gateway' was unexpected"),
    ("tensorboard-default", "VirtualService", _route_port_text, "number: '80' is not of type 'integer'"),
    ("ui-default", "VirtualService", _label_number, "labels.version: 1 is not of type 'string'"),
    ("tensorboard-default", "Tensorboard", _misspell_logspath, "'logspath' is a required property"),
]


@pytest.mark.parametrize(
    ("case_id", "kind", "breakage", "message"), BREAKAGES, ids=[breakage[2].__name__[1:] for breakage in BREAKAGES]
)
def test_a_broken_resource_is_refused_with_its_name_and_field(
    case_id: str, kind: str, breakage: collections.abc.Callable[[manifests.Resource], None], message: str
) -> None:
    resource = manifests.find(cases.by_id(case_id).resources(), kind)
    validation.validate(resource)
    breakage(resource)
    with pytest.raises(errors.ConfigError, match="manifest") as caught:
        validation.validate(resource)
    assert f"{kind}/{resource['metadata']['name']}" in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("case_id", "parameters"), [("tfjob-default", cases.TFJOB_DEFAULT), ("tfjob-custom", cases.TFJOB_CUSTOM)]
)
def test_the_tfjob_has_the_requested_topology_in_the_operator_shape(case_id: str, parameters: dict[str, Any]) -> None:
    (job,) = cases.by_id(case_id).resources()
    replicas = job["spec"]["tfReplicaSpecs"]
    counts = {kind: replica["replicas"] for kind, replica in replicas.items()}
    assert counts == {"Chief": 1, "PS": parameters["num_ps"], "Worker": parameters["num_workers"]}
    for replica in replicas.values():
        # The operator overwrites a restart policy in the pod template; it belongs on the replica spec.
        assert replica["restartPolicy"] in {"OnFailure", "ExitCode"}
        assert "restartPolicy" not in replica["template"]["spec"]
        (container,) = replica["template"]["spec"]["containers"]
        assert container["name"] == "tensorflow"
        assert {"name": "tfjob-port", "containerPort": 2222} in container["ports"]
        assert f"--tf-train-steps={parameters['train_steps']}" in container["args"]
        if "train_subset" in parameters:
            assert f"--train-subset={parameters['train_subset']}" in container["args"]


def _tfjob(replica_specs: dict[str, Any]) -> manifests.Resource:
    """A small TFJob in the shape the training operator documents."""
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "TFJob",
        "metadata": {"name": "mnist-train", "namespace": "team-b"},
        "spec": {"runPolicy": {"cleanPodPolicy": "All"}, "tfReplicaSpecs": replica_specs},
    }


def _replica(replicas: int) -> dict[str, Any]:
    container = {"name": "tensorflow", "image": "train:1", "ports": [{"name": "tfjob-port", "containerPort": 2222}]}
    return {"replicas": replicas, "restartPolicy": "OnFailure", "template": {"spec": {"containers": [container]}}}


def test_a_tfjob_is_checked_against_the_training_operator_crd() -> None:
    job = _tfjob({"Chief": _replica(1), "PS": _replica(2), "Worker": _replica(3)})
    assert validation.validate(job) == EXPECTED_SCHEMA["TFJob"]
    job["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] = "3"
    with pytest.raises(errors.ConfigError, match="replicas: '3' is not of type 'integer'"):
        validation.validate(job)
    job["spec"]["tfReplicaSpecs"]["Worker"] = {**_replica(3), "replica": 3}
    with pytest.raises(errors.ConfigError, match="'replica' was unexpected"):
        validation.validate(job)


def test_missing_crd_schemas_fail_with_where_to_put_them(tmp_path: pathlib.Path) -> None:
    resource = manifests.find(cases.by_id("ui-default").resources(), "VirtualService")
    with pytest.raises(errors.ConfigError, match=r"controlplane/crds"):
        validation.validate(resource, schemas_dir=tmp_path / "absent")
    with pytest.raises(errors.ConfigError, match=r"istio-virtualservice-crd\.yaml is missing"):
        validation.validate(resource, schemas_dir=tmp_path)


def test_a_version_the_crd_does_not_serve_is_named() -> None:
    resource = manifests.find(cases.by_id("ui-default").resources(), "VirtualService")
    resource["apiVersion"] = "networking.istio.io/v2"
    with pytest.raises(errors.ConfigError, match=r"serves VirtualService only as \['v1', 'v1alpha3', 'v1beta1'\]"):
        validation.validate(resource)


def test_a_kind_without_any_schema_is_refused() -> None:
    with pytest.raises(errors.ConfigError, match="Couldn't find schema for kind Gateway"):
        validation.validate({"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "x"}})
