"""`helpers.cluster.access` against the API server stand-in: only a server that cannot answer (injected 5xx).

The answers per Kubeflow release, denials and subresources come from the real API server's authorizer
(tests/controlplane/test_releases.py, test_cluster_client.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import _kinds, access

from . import fake_api as fake_api_module


def test_a_server_that_cannot_answer_is_a_cluster_error(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.fail_next(500, 500, 500)
    with pytest.raises(errors.ClusterError, match="may list"):
        access.may("list", _kinds.by_name("Tensorboard"), api=api, settings=cluster_settings)
