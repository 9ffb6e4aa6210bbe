"""A container's environment as the kubelet builds it: envFrom, then env with the downward API."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors
from helpers.local.node import podenv

POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x"}},
    "spec": {"nodeName": "node", "serviceAccountName": "default-editor"},
    "status": {"podIP": "127.0.0.5", "hostIP": "127.0.0.1"},
}
SECRETS = {"aws-secret": {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "key"}}
CONFIG_MAPS = {"cm": {"MODE": "fast"}}


def _resolve(container: dict[str, Any]) -> dict[str, str]:
    resolved = podenv.resolve(
        POD,
        container,
        secrets=lambda namespace, name: SECRETS.get(name),
        config_maps=lambda namespace, name: CONFIG_MAPS.get(name),
        node_allocatable={"cpu": "2", "memory": "8Gi"},
    )
    return {entry["name"]: entry["value"] for entry in resolved}


def test_env_from_then_env_with_the_downward_api_and_key_refs() -> None:
    container = {
        "envFrom": [{"secretRef": {"name": "aws-secret"}}, {"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "AWS_ACCESS_KEY_ID", "value": "overridden"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "aws-secret", "key": "AWS_SECRET_ACCESS_KEY"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory", "divisor": "1Mi"}}},
        ],
        "resources": {"requests": {"memory": "1536Mi"}},
    }
    env = _resolve(container)
    assert env["AWS_ACCESS_KEY_ID"] == "overridden" and env["AWS_SECRET_ACCESS_KEY"] == "key"
    assert env["CM_MODE"] == "fast"
    assert (env["POD_NAME"], env["POD_IP"], env["APP"], env["SA"]) == ("p", "127.0.0.5", "x", "default-editor")
    assert env["KEY"] == "key"
    assert env["CPU"] == "2"  # no limit: the node's allocatable, as the kubelet does
    assert env["MEM_MI"] == "1536"


@pytest.mark.parametrize(
    "container",
    [
        {"envFrom": [{"secretRef": {"name": "missing"}}]},
        {"env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "NOPE"}}}]},
        {"env": [{"name": "K", "valueFrom": {"fieldRef": {"fieldPath": "spec.nothing"}}}]},
    ],
)
def test_missing_required_sources_raise_config_error(container: dict[str, Any]) -> None:
    with pytest.raises(errors.ConfigError):
        _resolve(container)


def test_optional_sources_may_be_missing() -> None:
    container = {
        "envFrom": [{"secretRef": {"name": "missing", "optional": True}}],
        "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}}],
    }
    assert _resolve(container) == {}
