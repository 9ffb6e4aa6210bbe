"""profile: a namespace as Kubeflow makes it, its roles from the release's rules, enforced by the real server."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane import cluster, errors as controlplane_errors, profile
from helpers import errors, settings as settings_module
from helpers.cluster import apply, login


def test_rules_come_from_the_release_data() -> None:
    rules = {rule["resources"][0] for rule in profile.effective_rules("kubeflow-edit", "26.03")}
    assert {"tfjobs", "trainjobs", "tensorboards", "deployments", "pods/log"} <= rules
    edit_v1_10 = profile.effective_rules("kubeflow-edit", "v1.10.2")
    istio = [rule for rule in edit_v1_10 if rule["apiGroups"] == ["networking.istio.io"]]
    assert istio == [{"apiGroups": ["networking.istio.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]


def test_an_unknown_release_is_named() -> None:
    named = r"unknown Kubeflow release 'v0\.7'; known: v1\.9\.1"
    with pytest.raises(controlplane_errors.ControlPlaneError, match=named):
        profile.effective_rules("kubeflow-edit", "v0.7")


@pytest.mark.parametrize("kubeflow_profile", ["v1.9.1", "v1.10.2"], indirect=True)
def test_the_namespace_carries_the_releases_labels(
    control_plane: cluster.Cluster, kubeflow_profile: profile.Profile
) -> None:
    labels = control_plane.request("GET", f"/api/v1/namespaces/{kubeflow_profile.namespace}")["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "kubeflow-profile"
    if kubeflow_profile.release == "v1.9.1":
        assert "pod-security.kubernetes.io/enforce" not in labels
    else:
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"


def test_pod_security_baseline_refuses_a_privileged_pod(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    container = {"name": "c", "image": "busybox:1", "securityContext": {"privileged": True}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged"}, "spec": {"containers": [container]}}
    with pytest.raises(errors.ClusterError, match=r'violates PodSecurity "baseline:latest": privileged'):
        apply.apply([pod], api=editor_api, settings=editor_settings)


def test_the_viewer_may_read_but_not_write(
    control_plane: cluster.Cluster, kubeflow_profile: profile.Profile, editor_settings: settings_module.Settings
) -> None:
    viewer = login.connect(settings=editor_settings, kube_config=kubeflow_profile.viewer_kubeconfig)
    try:
        config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}
        with pytest.raises(errors.ClusterError, match="forbidden: cannot patch configmaps") as raised:
            apply.apply([config_map], api=viewer, settings=editor_settings)
        assert raised.value.status == 403
    finally:
        viewer.close()
