"""The kubeflow backend's cluster calls against the real API server, as the profile's default-editor.

What the stand-in in tests/cluster cannot show is shown here: RBAC as Kubeflow grants it, CRD
structural schemas (a bad value is rejected, an unknown field is not silently pruned), real
server-side apply (a re-run changes nothing), and foreground deletion by the garbage collector.
A controller's part (a TFJob's status) is played by the admin through the status subresource.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controlplane import cluster, profile
from helpers import errors, settings as settings_module
from helpers.cluster import _fetch, _kinds, apply, delete, wait
from tests.cluster import objects


def _tfjob(name: str = "mnist") -> dict[str, Any]:
    return objects.tfjob(name)


def test_apply_creates_and_a_re_run_changes_nothing(editor_api: Any, editor_settings: settings_module.Settings) -> None:
    first = apply.apply([objects.config_map(), _tfjob()], api=editor_api, settings=editor_settings)
    again = apply.apply([objects.config_map(), _tfjob()], api=editor_api, settings=editor_settings)
    for before, after in zip(first, again, strict=True):
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    changed = apply.apply([objects.config_map(key="other")], api=editor_api, settings=editor_settings)[0]
    assert changed["metadata"]["uid"] == first[0]["metadata"]["uid"]
    assert changed["data"] == {"key": "other"}


def test_a_bad_value_is_rejected_by_the_crd_schema(editor_api: Any, editor_settings: settings_module.Settings) -> None:
    job = _tfjob()
    job["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "two"}
    }
    with pytest.raises(errors.ClusterError, match=r"rejected the object as invalid.*limits\.cpu") as raised:
        apply.apply([job], api=editor_api, settings=editor_settings)
    assert raised.value.status == 422
    job = _tfjob()
    job["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] = "three"
    with pytest.raises(errors.ClusterError, match=r"does not fit its schema.*Worker\.replicas: expected numeric"):
        apply.apply([job], api=editor_api, settings=editor_settings)


def test_a_misspelt_field_fails_instead_of_being_pruned(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    # The real API server answers a server-side apply with an undeclared field with HTTP 500, which
    # the client took for a server fault and retried; the stand-in had accepted the typo silently.
    job = _tfjob()
    job["spec"]["tfReplicaSpecs"]["Worker"]["replica"] = 3
    with pytest.raises(errors.ClusterError, match=r"does not fit its schema.*Worker\.replica: field not declared") as e:
        apply.apply([job], api=editor_api, settings=editor_settings)
    assert "gave up after" not in str(e.value)


def test_wait_follows_the_operators_conditions_to_success(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    apply.apply([_tfjob()], api=editor_api, settings=editor_settings)
    now = "2026-12-03T08:00:00Z"
    conditions = [
        {"type": "Created", "status": "True", "reason": "TFJobCreated", "lastTransitionTime": now},
        {"type": "Succeeded", "status": "True", "reason": "TFJobSucceeded", "lastTransitionTime": now},
    ]
    path = f"/apis/kubeflow.org/v1/namespaces/{editor_settings.namespace}/tfjobs/mnist/status"
    control_plane.request(
        "PATCH",
        path,
        body={"status": {"conditions": conditions, "replicaStatuses": {"Chief": {"succeeded": 1}}}},
        content_type="application/merge-patch+json",
    )
    status = wait.wait_for_tfjob("mnist", api=editor_api, settings=editor_settings, timeout_s=10)
    assert status["replicaStatuses"]["Chief"]["succeeded"] == 1


def test_delete_waits_until_gone_and_a_second_delete_is_fine(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    resources = [objects.config_map(), _tfjob()]
    apply.apply(resources, api=editor_api, settings=editor_settings)
    delete.delete(resources, api=editor_api, settings=editor_settings)
    delete.delete(resources, api=editor_api, settings=editor_settings)
    for resource in resources:
        kind = _kinds.of(resource)
        name = resource["metadata"]["name"]
        found = _fetch.get_or_none(
            kind, name, api=editor_api, settings=editor_settings, namespace=editor_settings.namespace, action="read"
        )
        assert found is None


def test_a_denied_request_names_the_permission_and_how_to_check(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    role = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "elsewhere", "namespace": "kube-system"},
        "data": {"a": "b"},
    }
    with pytest.raises(errors.ClusterError, match=r"forbidden: cannot patch configmaps in namespace kube-system") as e:
        apply.apply([copy.deepcopy(role)], api=editor_api, settings=editor_settings)
    assert e.value.status == 403
    assert "kubectl auth can-i patch configmaps -n kube-system" in str(e.value)


@pytest.mark.parametrize("kubeflow_profile", ["v1.9.1", "26.03"], indirect=True)
def test_virtual_services_are_writable_only_where_the_release_grants_it(
    kubeflow_profile: profile.Profile, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    service = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "mnist-ui"},
        "spec": {"hosts": ["*"], "gateways": ["kubeflow/kubeflow-gateway"], "http": [{"route": []}]},
    }
    if kubeflow_profile.release == "v1.9.1":
        assert apply.apply([service], api=editor_api, settings=editor_settings)[0]["metadata"]["uid"]
    else:
        denied = r"forbidden: cannot patch virtualservices\.networking\.istio\.io"
        with pytest.raises(errors.ClusterError, match=denied):
            apply.apply([service], api=editor_api, settings=editor_settings)
