"""Tests for `helpers.cluster._kinds`: the supported kinds and the REST paths that reach them."""

from __future__ import annotations

import pytest

from helpers import errors
from helpers.cluster import _kinds


@pytest.mark.parametrize(
    ("kind", "name", "subresource", "path", "resource"),
    [
        ("Secret", "aws-secret", None, "/api/v1/namespaces/ns/secrets/aws-secret", "secrets"),
        ("Pod", "mnist-chief-0", "log", "/api/v1/namespaces/ns/pods/mnist-chief-0/log", "pods"),
        ("Deployment", None, None, "/apis/apps/v1/namespaces/ns/deployments", "deployments.apps"),
        ("TFJob", "mnist", None, "/apis/kubeflow.org/v1/namespaces/ns/tfjobs/mnist", "tfjobs.kubeflow.org"),
        (
            "Tensorboard",
            "mnist-tensorboard",
            None,
            "/apis/tensorboard.kubeflow.org/v1alpha1/namespaces/ns/tensorboards/mnist-tensorboard",
            "tensorboards.tensorboard.kubeflow.org",
        ),
    ],
)
def test_paths_and_rbac_names(kind: str, name: str | None, subresource: str | None, path: str, resource: str) -> None:
    found = _kinds.by_name(kind)

    assert found.path(namespace="ns", name=name, subresource=subresource) == path
    assert found.resource == resource


def test_every_kind_the_manifests_use_is_supported() -> None:
    expected = {"Secret", "ServiceAccount", "ConfigMap", "Service", "Deployment", "Job", "TFJob", "VirtualService"}
    expected |= {"PersistentVolumeClaim", "Tensorboard"}
    expected |= {"TrainJob", "ClusterTrainingRuntime"}

    assert expected | {"Pod"} == set(_kinds.KINDS)


def test_an_unknown_kind_lists_the_supported_ones() -> None:
    with pytest.raises(errors.ConfigError, match=r"supported:.*TFJob"):
        _kinds.by_name("PyTorchJob")
