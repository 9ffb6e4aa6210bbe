"""`helpers.cluster.apply` against the API server stand-in: only what a real API server cannot be made to do.

Creating, updating in place, sending no server fields and a 403 run on the real API server as default-editor
(tests/controlplane/test_cluster_client.py). Kept here: a server without server-side apply (415, then
create-or-replace), which no Kubernetes since 1.22 is; and resources refused before any request, which only a
recording server shows were never sent.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import apply

from . import fake_api as fake_api_module, objects


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
