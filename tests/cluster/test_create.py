"""helpers.cluster.create: create-or-replace for kinds a profile may create and delete but never patch."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import create

from . import fake_api as fake_api_module
from .objects import NAMESPACE

TENSORBOARDS = "apis/tensorboard.kubeflow.org/v1alpha1"


def board(logspath: str = "pvc://mnist-tensorboard-logs/") -> dict[str, Any]:
    labels = {"app.kubernetes.io/part-of": "kubeflow-mnist"}
    return {
        "apiVersion": "tensorboard.kubeflow.org/v1alpha1",
        "kind": "Tensorboard",
        "metadata": {"name": "mnist-tensorboard", "labels": labels},
        "spec": {"logspath": logspath},
    }


@pytest.mark.parametrize("release", ["v1.9.1", "26.03"])
def test_creates_keeps_the_same_and_replaces_a_changed_one_without_patching(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings, release: str
) -> None:
    fake_api.as_release(release)
    (first,) = create.create([board()], api=api, settings=cluster_settings)
    (again,) = create.create([board()], api=api, settings=cluster_settings)
    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    (changed,) = create.create([board("pvc://other/")], api=api, settings=cluster_settings)
    assert changed["metadata"]["uid"] != first["metadata"]["uid"]
    stored = fake_api.get(TENSORBOARDS, "tensorboards", NAMESPACE, "mnist-tensorboard")
    assert stored is not None and stored["spec"]["logspath"] == "pvc://other/"
    assert {call["method"] for call in fake_api.calls()} <= {"POST", "GET", "DELETE"}


def test_a_refused_create_is_a_cluster_error(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.deny("create", "tensorboards")
    with pytest.raises(errors.ClusterError, match=r"forbidden: cannot create tensorboards\.tensorboard\.kubeflow\.org"):
        create.create([board()], api=api, settings=cluster_settings)
