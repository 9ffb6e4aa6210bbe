"""`helpers.cluster.discovery` against the API server stand-in: a malformed group version and injected 5xx.

A served group and version, and a group the cluster lacks: on the real API server
(tests/controlplane/test_cluster_client.py). Kept here: a group version refused before any request, and a
server that cannot answer (injected 503s).
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import discovery

from . import fake_api as fake_api_module


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
