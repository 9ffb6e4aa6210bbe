"""The two executors of the same manifests, registered by name (`local`, `kubeflow`).

A notebook asks `backends.get(settings=...)` for the backend its settings name and calls
the same methods on either; `auto` was already resolved by `settings.load`.
"""

from __future__ import annotations

from helpers.backends.base import Backend, get, register

__all__ = ["Backend", "get", "register"]
