"""Create resources that this identity may create and delete but never change in place.

Kubeflow's `kubeflow-edit` grants create, get, list and delete on `Tensorboard` resources, and no
patch or update, so server-side apply (a PATCH) is refused there. Re-running a cell must still
work: an existing object with the same spec is kept, one with another spec is deleted (waiting
until it is gone) and created again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from helpers import errors, settings as settings_module
from helpers.cluster import _api, _fetch, _kinds, apply, delete

logger = logging.getLogger(__name__)

# Kinds that `kubeflow-edit` lets a profile create and delete but not patch (controlplane/kubeflow-rbac/).
CREATE_ONLY_KINDS = frozenset({"Tensorboard"})


def create(
    resources: Sequence[dict[str, Any]],
    *,
    api: Any,
    settings: settings_module.Settings,
) -> list[dict[str, Any]]:
    """Create each resource; keep an existing one with the same spec, replace (delete, create) one without.

    A resource without `metadata.namespace` goes to `settings.namespace`. Returns the objects as
    the server stored them. Raises ConfigError for an unsupported kind or a missing name,
    ClusterError when the server refuses, WaitTimeout when the old object does not go.
    """
    return [_create_one(resource, api=api, settings=settings) for resource in resources]


def _create_one(resource: dict[str, Any], *, api: Any, settings: settings_module.Settings) -> dict[str, Any]:
    kind = _kinds.of(resource)
    intent = apply.intent_of(resource, namespace=settings.namespace)
    name, namespace = intent["metadata"]["name"], intent["metadata"]["namespace"]
    query = [("fieldManager", apply.FIELD_MANAGER)]
    call = _api.on(kind, "create", namespace=namespace, action="create")
    try:
        return _api.request(api, call, settings=settings, query=query, body=intent)
    except errors.ClusterError as e:
        if e.status != 409:
            raise
    current = _fetch.get_or_none(kind, name, api=api, settings=settings, namespace=namespace, action="create")
    if current is not None and _same(current, intent):
        logger.info("%s exists with the same spec; kept", call.target)
        return current
    logger.info("%s exists with another spec; deleting it to create it again", call.target)
    delete.delete([intent], api=api, settings=settings)
    return _api.request(api, call, settings=settings, query=query, body=intent)


def _same(current: dict[str, Any], intent: dict[str, Any]) -> bool:
    """Whether the stored object already holds what the intent says (spec and our labels)."""
    labels = current.get("metadata", {}).get("labels") or {}
    wanted = intent["metadata"].get("labels") or {}
    return bool(current.get("spec") == intent.get("spec") and all(labels.get(k) == v for k, v in wanted.items()))
