"""Create or update resources in place with server-side apply, so every notebook cell can re-run.

The upstream example used `kubectl create` (fails on a re-run) and delete-then-create (races and
changes the object's uid). Server-side apply is one idempotent PATCH that creates a missing
object and updates an existing one; the owner of the fields is `kubeflow-mnist`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

from helpers import errors, settings as settings_module
from helpers.cluster import _api, _kinds

logger = logging.getLogger(__name__)

# The field manager that owns what this project applies; `force` takes fields over from
# another manager (a `kubectl edit` made in the workshop) instead of failing with a conflict.
FIELD_MANAGER = "kubeflow-mnist"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
# Fields the server assigns; a resource read back from the cluster carries them, an apply must not.
_SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "managedFields")


def apply(
    resources: Sequence[dict[str, Any]],
    *,
    api: Any,
    settings: settings_module.Settings,
) -> list[dict[str, Any]]:
    """Create each resource, or update it in place if it exists; returns the objects as the server stored them.

    A resource without `metadata.namespace` goes to `settings.namespace`. Raises ConfigError for
    an unsupported kind or a missing name, ClusterError when the server refuses.
    """
    return [_apply_one(resource, api=api, settings=settings) for resource in resources]


def _apply_one(resource: dict[str, Any], *, api: Any, settings: settings_module.Settings) -> dict[str, Any]:
    kind = _kinds.of(resource)
    intent = intent_of(resource, namespace=settings.namespace)
    name, namespace = intent["metadata"]["name"], intent["metadata"]["namespace"]
    call = _api.on(kind, "patch", namespace=namespace, name=name, action="apply")
    try:
        applied = _api.request(
            api,
            call,
            settings=settings,
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=intent,
            content_type=APPLY_CONTENT_TYPE,
        )
    except errors.ClusterError as e:
        # 415: a server (or proxy) without server-side apply; fall back to create, then replace.
        if e.status != 415:
            raise
        logger.info("%s: server-side apply is not supported; creating or replacing instead", call.target)
        applied = _create_or_replace(intent, kind=kind, api=api, settings=settings)
    metadata = applied.get("metadata", {})
    logger.info("applied %s (uid %s, version %s)", call.target, metadata.get("uid"), metadata.get("resourceVersion"))
    return applied


def _create_or_replace(
    intent: dict[str, Any], *, kind: _kinds.Kind, api: Any, settings: settings_module.Settings
) -> dict[str, Any]:
    """Create the object; when it exists (409), replace it at its current version so its uid stays."""
    name, namespace = intent["metadata"]["name"], intent["metadata"]["namespace"]
    query = [("fieldManager", FIELD_MANAGER)]
    try:
        create = _api.on(kind, "create", namespace=namespace, action="apply")
        return _api.request(api, create, settings=settings, query=query, body=intent)
    except errors.ClusterError as e:
        if e.status != 409:
            raise
    current = _api.request(api, _api.on(kind, "get", namespace=namespace, name=name, action="apply"), settings=settings)
    metadata = {**intent["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}
    replace = _api.on(kind, "update", namespace=namespace, name=name, action="apply")
    return _api.request(api, replace, settings=settings, query=query, body={**intent, "metadata": metadata})


def intent_of(resource: dict[str, Any], *, namespace: str) -> dict[str, Any]:
    """What to send: a copy without status and server-assigned fields, with its namespace set."""
    intent = copy.deepcopy(resource)
    intent.pop("status", None)
    metadata = intent.setdefault("metadata", {})
    if not metadata.get("name"):
        raise errors.ConfigError("metadata.name", metadata.get("name"), f"a {intent.get('kind')} needs a name")
    for field in _SERVER_FIELDS:
        metadata.pop(field, None)
    metadata.setdefault("namespace", namespace)
    return intent
