"""Delete resources and wait until they are really gone, so a re-run never races a dying object.

The upstream example deleted and re-created at once and met "object is being deleted". Here a
missing object counts as deleted (404 is success), dependents go with their owner (foreground
propagation: a Job's pods, a Deployment's ReplicaSets) and the call returns once the server no
longer has the object.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from helpers import errors, settings as settings_module
from helpers.cluster import _api, _fetch, _kinds, _poll, trainjob

logger = logging.getLogger(__name__)

# Foreground: the object stays (with a deletionTimestamp) until its dependents are gone, so
# "gone" means its pods too; the API's default for batch/v1 Jobs would orphan the pods.
DELETE_OPTIONS = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"}
# Except a TrainJob: Trainer v2.3.0's reconciler does not look at deletionTimestamp and re-creates
# the JobSet of an unfinished TrainJob each time the garbage collector removes it, so a foreground
# deletion waits until it wins that race (17 s measured, over 60 s under load). In the background the
# TrainJob goes at once; its pods, found by JobSet's label, are then waited for instead.
BACKGROUND = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
BACKGROUND_KINDS = {"TrainJob": trainjob.JOBSET_NAME_LABEL}


class _Deleted(NamedTuple):
    """An object whose deletion the server accepted, and its uid (None when the server did not say)."""

    kind: _kinds.Kind
    name: str
    namespace: str
    uid: str | None
    target: str


def delete(
    resources: Sequence[dict[str, Any]],
    *,
    api: Any,
    settings: settings_module.Settings,
    wait: bool = True,
    timeout_s: float | None = None,
    interval_s: float = _poll.POLL_INITIAL_S,
) -> list[str]:
    """Delete the resources, last first, and with `wait` return once all are gone.

    Returns the objects that existed and were deleted (`TFJob/mnist in namespace ns`); a missing
    one is skipped. Raises ClusterError when the server refuses, WaitTimeout when an object is
    still there after `timeout_s` (default `settings.wait_timeout_s`).
    """
    # Last first: resources are listed in the order they are applied, so users go before what they use.
    deleted: list[_Deleted] = []
    for resource in reversed(resources):
        kind = _kinds.of(resource)
        metadata = resource.get("metadata") or {}
        namespace = metadata.get("namespace") or settings.namespace
        name = metadata.get("name")
        if not name:
            raise errors.ConfigError("metadata.name", name, f"a {kind.kind} to delete needs a name")
        call = _api.on(kind, "delete", namespace=namespace, name=name)
        options = BACKGROUND if kind.kind in BACKGROUND_KINDS else DELETE_OPTIONS
        try:
            answer = _api.request(api, call, settings=settings, body=options)
        except errors.ClusterError as e:
            if e.status != 404:
                raise
            logger.info("%s is already gone", call.target)
            continue
        # The uid tells the deleted object from one that someone re-created under the same name.
        uid = answer.get("metadata", {}).get("uid") if answer.get("kind") != "Status" else None
        deleted.append(_Deleted(kind, name, namespace, uid, call.target))
        logger.info("deleting %s", call.target)
    if wait and deleted:
        _wait_gone(
            deleted, api=api, settings=settings, timeout_s=timeout_s or settings.wait_timeout_s, interval_s=interval_s
        )
    return [gone.target for gone in deleted]


def delete_by_label(
    selector: str,
    *,
    kinds: Sequence[str],
    api: Any,
    settings: settings_module.Settings,
    namespace: str | None = None,
    wait: bool = True,
    timeout_s: float | None = None,
    interval_s: float = _poll.POLL_INITIAL_S,
) -> list[str]:
    """Delete every object of `kinds` (in apply order, e.g. ["ConfigMap", "Deployment"]) whose labels match.

    `selector` is a label selector such as `app.kubernetes.io/part-of=kubeflow-mnist`; an empty one
    raises ConfigError rather than deleting everything. Returns what was deleted, as `delete` does.
    """
    if not selector.strip():
        raise errors.ConfigError("selector", selector, "an empty selector would delete every object of these kinds")
    namespace = namespace or settings.namespace
    found = []
    for kind in map(_kinds.by_name, kinds):
        for item in _fetch.list_objects(
            kind, api=api, settings=settings, namespace=namespace, selector=selector, action="delete"
        ):
            # List items carry no apiVersion/kind of their own; the collection says what they are.
            metadata = {"name": item["metadata"]["name"], "namespace": namespace}
            found.append({"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata})
    return delete(found, api=api, settings=settings, wait=wait, timeout_s=timeout_s, interval_s=interval_s)


def _wait_gone(
    deleted: list[_Deleted],
    *,
    api: Any,
    settings: settings_module.Settings,
    timeout_s: float,
    interval_s: float,
) -> None:
    """Return once none of the deleted objects is left; raises WaitTimeout naming those that are."""

    def still_there() -> tuple[str, ...]:
        left = []
        for gone in deleted:
            found = _fetch.get_or_none(
                gone.kind,
                gone.name,
                api=api,
                settings=settings,
                namespace=gone.namespace,
                action="wait for deletion of",
            )
            if found is not None and (gone.uid is None or found["metadata"].get("uid") == gone.uid):
                finalizers = found["metadata"].get("finalizers") or []
                left.append(gone.target + (f" (finalizers: {', '.join(finalizers)})" if finalizers else ""))
            elif gone.kind.kind in BACKGROUND_KINDS:
                left += _pods_left(gone, api=api, settings=settings)
        return tuple(left)

    _poll.until(
        still_there,
        lambda left: True if not left else None,
        what="deletion of " + ", ".join(gone.target for gone in deleted),
        timeout_s=timeout_s,
        describe=lambda left: "still present: " + "; ".join(left),
        interval_s=interval_s,
    )


def _pods_left(gone: _Deleted, *, api: Any, settings: settings_module.Settings) -> list[str]:
    """The pods of an object deleted in the background that are still there (see BACKGROUND_KINDS)."""
    selector = f"{BACKGROUND_KINDS[gone.kind.kind]}={gone.name}"
    pods = _fetch.list_objects(
        _kinds.by_name("Pod"), api=api, settings=settings, namespace=gone.namespace, selector=selector,
        action="wait for deletion of",
    )  # fmt: skip
    return [f"pod {pod['metadata']['name']} of {gone.target}" for pod in pods]
