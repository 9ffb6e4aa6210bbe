"""`helpers.cluster.delete` against the API server stand-in: only a refusal made before any request.

Waiting until gone, timeouts naming the finalizers left, a re-created object, deletion by label: on the real
API server as default-editor (tests/controlplane/test_cluster_client.py). Kept here: selectors and kinds refused
before anything is sent, which only a recording server shows (no DELETE reached it).
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import delete

from . import fake_api as fake_api_module


@pytest.mark.parametrize(
    ("selector", "kinds", "parameter"), [(" ", ["ConfigMap"], "selector"), ("a=b", ["Node"], "kind")]
)
def test_delete_by_label_refuses_what_it_cannot_do_safely(
    api: Any,
    fake_api: fake_api_module.FakeApiServer,
    cluster_settings: settings_module.Settings,
    selector: str,
    kinds: list[str],
    parameter: str,
) -> None:
    with pytest.raises(errors.ConfigError) as raised:
        delete.delete_by_label(selector, kinds=kinds, api=api, settings=cluster_settings)

    assert raised.value.parameter == parameter
    assert fake_api.calls("DELETE") == []
