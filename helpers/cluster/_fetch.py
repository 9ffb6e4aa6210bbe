"""Read objects: one by name (absent is an answer, not an error) or a collection by label.

Deleting, waiting and reading logs all start by looking at what is there; they share these
two reads so that "not found" and label selection are handled the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from helpers import errors, settings as settings_module
from helpers.cluster import _api, _kinds


def get_or_none(
    kind: _kinds.Kind,
    name: str,
    *,
    api: Any,
    settings: settings_module.Settings,
    namespace: str,
    action: str,
) -> dict[str, Any] | None:
    """The object `name` of `kind`, or None when it does not exist (404); raises ClusterError otherwise."""
    call = _api.on(kind, "get", namespace=namespace, name=name, action=action)
    return request_or_none(call, api=api, settings=settings)


def request_or_none(
    call: _api.Call, *, api: Any, settings: settings_module.Settings, absent: Collection[int] = (404,)
) -> dict[str, Any] | None:
    """`call`'s answer, or None when the server answers a status in `absent`; raises ClusterError otherwise."""
    try:
        return _api.request(api, call, settings=settings)
    except errors.ClusterError as e:
        if e.status in absent:
            return None
        raise


def list_objects(
    kind: _kinds.Kind,
    *,
    api: Any,
    settings: settings_module.Settings,
    namespace: str,
    selector: str,
    action: str,
) -> list[dict[str, Any]]:
    """The objects of `kind` in `namespace` whose labels match `selector` ("" matches all); raises ClusterError."""
    call = _api.on(kind, "list", namespace=namespace, action=action)
    query = [("labelSelector", selector)] if selector else []
    answer = _api.request(api, call, settings=settings, query=query)
    return list(answer.get("items") or [])
