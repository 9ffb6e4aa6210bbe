"""helpers.cluster.discovery: whether the server serves an API group and version."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import discovery

from . import fake_api as fake_api_module


def test_a_served_group_and_version(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    assert discovery.serves("tensorboard.kubeflow.org/v1alpha1", api=api, settings=cluster_settings)
    assert not discovery.serves("tensorboard.kubeflow.org/v1", api=api, settings=cluster_settings)
    assert [call["path"] for call in fake_api.calls("GET")][-2:] == ["/apis/tensorboard.kubeflow.org"] * 2


def test_a_group_the_cluster_lacks_is_no_error(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.unserve("tensorboard.kubeflow.org")
    assert not discovery.serves("tensorboard.kubeflow.org/v1alpha1", api=api, settings=cluster_settings)


@pytest.mark.parametrize("group_version", ["v1", "/v1", "apps/", "a/b/c"])
def test_a_malformed_group_version_is_refused(
    api: Any, cluster_settings: settings_module.Settings, group_version: str
) -> None:
    with pytest.raises(ValueError, match="group_version"):
        discovery.serves(group_version, api=api, settings=cluster_settings)


def test_other_failures_are_cluster_errors(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.fail_next(503, 503, 503)
    with pytest.raises(errors.ClusterError, match=r"API group tensorboard\.kubeflow\.org"):
        discovery.serves("tensorboard.kubeflow.org/v1alpha1", api=api, settings=cluster_settings)
