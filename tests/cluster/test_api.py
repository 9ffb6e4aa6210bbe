"""`helpers.cluster._api` against the API server stand-in: which failures are retried, how often, and what is logged.

All of it stays on the stand-in: each test injects 429s, 5xx, dropped connections or a status on demand and
counts the attempts, and the not-JSON answer is a pod's log, which a real API server reads only from a kubelet.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import _api, _kinds, apply

from . import fake_api as fake_api_module, objects


def _get_config_map(api: Any, settings: settings_module.Settings) -> dict[str, Any]:
    call = _api.on(_kinds.by_name("ConfigMap"), "get", namespace=objects.NAMESPACE, name="settings")
    return _api.request(api, call, settings=settings)


@pytest.mark.parametrize("failure", [429, 500, 502, 503, 504, "reset"])
def test_a_transient_failure_is_retried_and_each_attempt_logged(
    api: Any,
    fake_api: fake_api_module.FakeApiServer,
    cluster_settings: settings_module.Settings,
    caplog: pytest.LogCaptureFixture,
    failure: int | str,
) -> None:
    apply.apply([objects.config_map()], api=api, settings=cluster_settings)
    fake_api.fail_next(failure, failure)
    before = len(fake_api.requests)

    with caplog.at_level(logging.WARNING, logger=_api.__name__):
        found = _get_config_map(api, cluster_settings)

    assert found["metadata"]["name"] == "settings"
    assert len(fake_api.requests) - before == 3
    attempts = [record.getMessage() for record in caplog.records]
    assert len(attempts) == 2
    assert "attempt 1 of 3" in attempts[0] and "attempt 2 of 3" in attempts[1]


def test_retries_stop_after_the_configured_attempts(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.fail_next(503, 503, 503, 503)
    before = len(fake_api.requests)

    with pytest.raises(errors.ClusterError) as raised:
        _get_config_map(api, cluster_settings)

    assert len(fake_api.requests) - before == cluster_settings.api_retries
    assert raised.value.status == 503
    assert "gave up after 3 attempts" in str(raised.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_failures_are_not_retried(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings, status: int
) -> None:
    fake_api.fail_next(status)
    before = len(fake_api.requests)

    with pytest.raises(errors.ClusterError) as raised:
        _get_config_map(api, cluster_settings)

    assert len(fake_api.requests) - before == 1
    assert raised.value.status == status
    assert "ConfigMap/settings in namespace" in str(raised.value)


def test_an_answer_that_is_not_json_is_a_cluster_error(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.add("api/v1", "pods", objects.pod("plain", labels={}))
    fake_api.set_logs(objects.NAMESPACE, "plain", "tensorflow", "not json at all\n")
    call = _api.on(_kinds.by_name("Pod"), "get", namespace=objects.NAMESPACE, name="plain", subresource="log")

    with pytest.raises(errors.ClusterError, match="not JSON"):
        _api.request(api, call, settings=cluster_settings)


def test_an_unknown_verb_is_refused() -> None:
    with pytest.raises(ValueError, match="watch"):
        _api.on(_kinds.by_name("Pod"), "watch", namespace=objects.NAMESPACE)
