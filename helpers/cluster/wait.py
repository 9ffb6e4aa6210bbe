"""Wait for a Deployment to roll out, a batch Job to finish or a TFJob to succeed.

The upstream notebooks never waited for Deployments and only printed TFJob objects. These
waits read the object's status until it is done, call `on_change(status)` whenever it changes
(for a progress line in the notebook) and raise WaitTimeout with the last state seen, or
ClusterError with the failure message the controller wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypedDict, Unpack

from helpers import errors, settings as settings_module
from helpers.cluster import _fetch, _kinds, _poll

logger = logging.getLogger(__name__)

Status = dict[str, Any]
OnChange = Callable[[Status], None]
# Whether the object read (first argument) is where the wait ends; the second names it for errors.
Done = Callable[[dict[str, Any], str], bool]


class Options(TypedDict, total=False):
    """How to wait: `namespace` (default: the settings'), `timeout_s` (default: `settings.wait_timeout_s`),
    `on_change(status)` called whenever the status changes, and the first poll interval `interval_s`."""

    namespace: str | None
    timeout_s: float | None
    on_change: OnChange | None
    interval_s: float


def wait_for_rollout(name: str, *, api: Any, settings: settings_module.Settings, **options: Unpack[Options]) -> Status:
    """Wait until Deployment `name` has rolled out, as `kubectl rollout status` judges it; returns its status.

    Done when the controller has seen the latest spec and every replica is updated and available.
    Raises ClusterError when the rollout exceeded its progress deadline, WaitTimeout after `timeout_s`.
    """
    kind = _kinds.by_name("Deployment")
    return wait_for(kind, name, _rollout_done, _describe_rollout, api=api, settings=settings, **options)


def wait_for_job(name: str, *, api: Any, settings: settings_module.Settings, **options: Unpack[Options]) -> Status:
    """Wait until batch Job `name` is Complete; returns its status.

    Raises ClusterError with the Job's own reason and message when it Failed, WaitTimeout after `timeout_s`.
    """
    kind = _kinds.by_name("Job")
    return wait_for(kind, name, until_condition("Complete"), _describe_job, api=api, settings=settings, **options)


def wait_for_tfjob(name: str, *, api: Any, settings: settings_module.Settings, **options: Unpack[Options]) -> Status:
    """Wait until TFJob `name` goes through Created and Running to Succeeded; returns its status.

    Restarting is waited through. Raises ClusterError with the operator's message when the job
    Failed, WaitTimeout (naming the last condition and replica counts) after `timeout_s`.
    """
    kind = _kinds.by_name("TFJob")
    return wait_for(kind, name, until_condition("Succeeded"), _describe_tfjob, api=api, settings=settings, **options)


def wait_for(
    kind: _kinds.Kind,
    name: str,
    done: Done,
    describe: Callable[[dict[str, Any]], str],
    *,
    api: Any,
    settings: settings_module.Settings,
    namespace: str | None = None,
    timeout_s: float | None = None,
    on_change: OnChange | None = None,
    interval_s: float = _poll.POLL_INITIAL_S,
) -> Status:
    """Poll `kind`/`name` until `done(object, target)` is True; returns its status. A missing object is a
    state, not an error; `done` raises (e.g. `failure(...)`) when the object can never get there."""
    namespace = namespace or settings.namespace
    target = f"{kind.kind}/{name} in namespace {namespace}"
    seen: list[Status] = []

    def read() -> dict[str, Any]:
        found = _fetch.get_or_none(kind, name, api=api, settings=settings, namespace=namespace, action="wait for")
        status = dict((found or {}).get("status") or {})
        if not seen or status != seen[0]:
            seen[:] = [status]
            logger.info("%s: %s", target, describe(found) if found else "not found")
            if on_change is not None:
                on_change(status)
        return found or {}

    return _poll.until(
        read,
        lambda found: dict(found["status"]) if found and done(found, target) else None,
        what=target,
        timeout_s=timeout_s or settings.wait_timeout_s,
        describe=lambda found: describe(found) if found else "not found",
        interval_s=interval_s,
    )


def true_conditions(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The object's conditions whose status is "True", by type."""
    conditions = (found.get("status") or {}).get("conditions") or []
    return {condition["type"]: condition for condition in conditions if condition.get("status") == "True"}


def failure(target: str, condition: dict[str, Any]) -> errors.ClusterError:
    """The error for a controller-reported failure, carrying the controller's own words."""
    reason = condition.get("reason") or condition.get("type")
    return errors.ClusterError("run", target, f"{reason}: {condition.get('message') or 'no message'}")


def until_condition(success: str) -> Done:
    """A `done` for `wait_for` that is True once condition `success` is true, and raises the controller's
    failure once `Failed` is: the rule of a batch Job ("Complete"), a TFJob ("Succeeded") and a TrainJob."""

    def done(found: dict[str, Any], target: str) -> bool:
        conditions = true_conditions(found)
        if "Failed" in conditions:
            raise failure(target, conditions["Failed"])
        return success in conditions

    return done


def _rollout_done(found: dict[str, Any], target: str) -> bool:
    spec, status = found.get("spec") or {}, found.get("status") or {}
    progressing = [c for c in status.get("conditions") or [] if c.get("type") == "Progressing"]
    if progressing and progressing[0].get("reason") == "ProgressDeadlineExceeded":
        raise failure(target, progressing[0])
    wanted = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= found.get("metadata", {}).get("generation", 0)
        and status.get("updatedReplicas", 0) >= wanted
        and status.get("replicas", 0) <= status.get("updatedReplicas", 0)
        and status.get("availableReplicas", 0) >= wanted
    )


def _describe_rollout(found: dict[str, Any]) -> str:
    spec, status = found.get("spec") or {}, found.get("status") or {}
    wanted = spec.get("replicas", 1)
    return (
        f"{status.get('updatedReplicas', 0)}/{wanted} updated, {status.get('availableReplicas', 0)}/{wanted}"
        f" available, {status.get('replicas', 0)} in total, generation {status.get('observedGeneration', 0)}"
        f" of {found.get('metadata', {}).get('generation', 0)} seen"
    )


def _describe_job(found: dict[str, Any]) -> str:
    status = found.get("status") or {}
    counts = ", ".join(f"{key} {status.get(key, 0)}" for key in ("active", "succeeded", "failed"))
    conditions = ", ".join(true_conditions(found)) or "no condition yet"
    return f"{conditions}; pods: {counts}"


def _describe_tfjob(found: dict[str, Any]) -> str:
    status = found.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if c.get("status") == "True"]
    latest = f"{conditions[-1]['type']} ({conditions[-1].get('message', '')})" if conditions else "no condition yet"
    replicas = "; ".join(
        f"{replica_type}: " + ", ".join(f"{key} {counts.get(key, 0)}" for key in ("active", "succeeded", "failed"))
        for replica_type, counts in sorted((status.get("replicaStatuses") or {}).items())
    )
    return latest + (f"; replicas {replicas}" if replicas else "")
