"""Contract tests for `helpers.cluster.apply`: create, update in place, fallback, refusals."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import apply

from . import fake_api as fake_api_module, objects

CORE = "api/v1"
KUBEFLOW = "apis/kubeflow.org/v1"


def test_apply_creates_objects_in_the_settings_namespace(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    applied = apply.apply([objects.config_map(), objects.tfjob()], api=api, settings=cluster_settings)

    assert [item["kind"] for item in applied] == ["ConfigMap", "TFJob"]
    stored = fake_api.get(KUBEFLOW, "tfjobs", objects.NAMESPACE, "mnist")
    assert stored is not None and stored["metadata"]["uid"] == applied[1]["metadata"]["uid"]
    assert stored["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2
    patches = fake_api.calls("PATCH")
    assert [call["content_type"] for call in patches] == [apply.APPLY_CONTENT_TYPE] * 2
    assert all(call["query"] == {"fieldManager": "kubeflow-mnist", "force": "true"} for call in patches)
    assert stored["metadata"]["managedFields"][0]["manager"] == "kubeflow-mnist"


def test_apply_to_an_existing_object_updates_it_in_place(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    first = apply.apply([objects.tfjob(workers=2)], api=api, settings=cluster_settings)[0]
    second = apply.apply([objects.tfjob(workers=4)], api=api, settings=cluster_settings)[0]

    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 4
    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert {call["method"] for call in fake_api.requests} == {"GET", "PATCH"}


def test_apply_sends_neither_status_nor_server_fields_and_leaves_its_input_alone(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    stored = apply.apply([objects.config_map(key="one")], api=api, settings=cluster_settings)[0]
    read_back = {**stored, "data": {"key": "two"}, "status": {"phase": "whatever"}}
    before = repr(read_back)

    apply.apply([read_back], api=api, settings=cluster_settings)

    assert repr(read_back) == before
    sent = fake_api.calls("PATCH")[-1]["body"]
    assert "status" not in sent
    assert not {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"} & set(sent["metadata"])
    assert fake_api.get(CORE, "configmaps", objects.NAMESPACE, "settings")["data"] == {"key": "two"}


def test_without_server_side_apply_it_creates_then_replaces_keeping_the_uid(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.supports_apply = False

    first = apply.apply([objects.config_map(key="one")], api=api, settings=cluster_settings)[0]
    second = apply.apply([objects.config_map(key="two")], api=api, settings=cluster_settings)[0]

    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["data"] == {"key": "two"}
    methods = [call["method"] for call in fake_api.requests if call["path"] != "/version"]
    # First apply: PATCH refused (415), POST creates. Second: PATCH 415, POST 409, GET, PUT.
    assert methods == ["PATCH", "POST", "PATCH", "POST", "GET", "PUT"]
    assert fake_api.calls("PUT")[0]["body"]["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_forbidden_names_the_refused_verb_resource_and_namespace(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.deny("patch", "tfjobs")

    with pytest.raises(errors.ClusterError) as raised:
        apply.apply([objects.tfjob()], api=api, settings=cluster_settings)

    assert raised.value.status == 403
    assert raised.value.action == "apply"
    assert f"cannot patch tfjobs.kubeflow.org in namespace {objects.NAMESPACE}" in str(raised.value)
    assert "TFJob/mnist" in str(raised.value)


@pytest.mark.parametrize(
    ("resource", "parameter"),
    [
        ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}, "kind"),
        ({"apiVersion": "kubeflow.org/v2", "kind": "TFJob", "metadata": {"name": "x"}}, "apiVersion"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "metadata.name"),
    ],
)
def test_a_resource_it_cannot_send_is_a_config_error(
    api: Any,
    fake_api: fake_api_module.FakeApiServer,
    cluster_settings: settings_module.Settings,
    resource: dict[str, Any],
    parameter: str,
) -> None:
    with pytest.raises(errors.ConfigError) as raised:
        apply.apply([resource], api=api, settings=cluster_settings)

    assert raised.value.parameter == parameter
    assert fake_api.calls("PATCH") == []
