"""A pod's `status` as the kubelet reports it: phase, addresses, the conditions and containerStatuses.

Built from a `PodRunner` (or, for a pod the node cannot start yet, from a waiting reason), as a
JSON merge patch body: lists are replaced whole, so every condition is written each time (the
scheduler's PodScheduled is kept as the binding left it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from helpers.local.node import podrun

CONDITION_TYPES = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


def _condition(kind: str, value: bool, now: str, previous: Mapping[str, Any], reason: str = "") -> dict[str, Any]:
    status = "True" if value else "False"
    old = next((c for c in previous.get("conditions") or [] if c.get("type") == kind), None)
    changed_at = old.get("lastTransitionTime") if old and old.get("status") == status else now
    condition: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": changed_at,
    }
    if reason and not value:
        condition["reason"] = reason
    return condition


def container_status(run: podrun.ContainerRun) -> dict[str, Any]:
    """One entry of containerStatuses (or initContainerStatuses)."""
    if run.state == "running":
        state: dict[str, Any] = {"running": {"startedAt": run.started_at}}
    elif run.state == "terminated":
        state = {"terminated": run.terminated()}
    else:
        waiting: dict[str, Any] = {"reason": run.waiting_reason}
        if run.waiting_message:
            waiting["message"] = run.waiting_message
        state = {"waiting": waiting}
    status: dict[str, Any] = {
        "name": run.plan.name,
        "image": run.plan.image,
        "imageID": "",
        "ready": run.ready and run.state == "running",
        "started": run.started and run.state == "running",
        "restartCount": run.restart_count,
        "state": state,
        "lastState": {"terminated": run.last_terminated} if run.last_terminated else {},
    }
    if run.pid:
        status["containerID"] = f"local://{run.pid}"
    return status


def _scheduled(previous: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [c for c in previous.get("conditions") or [] if c.get("type") == "PodScheduled"]


def _addresses(pod_ip: str, host_ip: str) -> dict[str, Any]:
    return {"hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}]}


def of_runner(runner: podrun.PodRunner, *, host_ip: str, now: str, previous: Mapping[str, Any]) -> dict[str, Any]:
    """The status of a pod the node runs; `previous` is the status on the server (for transition times)."""
    phase = runner.phase()
    runs = list(runner.runs.values())
    mains = [run for run in runs if run.plan.kind == "main"]
    sidecars = [run for run in runs if run.plan.kind == "sidecar"]
    ready = bool(mains) and all(run.ready and run.state == "running" for run in [*mains, *sidecars])
    terminal = phase in ("Succeeded", "Failed")
    reason = "PodCompleted" if terminal else "ContainersNotReady"
    initialized = runner.initialized()
    conditions = [
        *_scheduled(previous),
        _condition("PodReadyToStartContainers", not runner.stopped, now, previous),
        _condition("Initialized", initialized, now, previous, "ContainersNotInitialized"),
        _condition("ContainersReady", ready and not terminal, now, previous, reason),
        _condition("Ready", ready and not terminal, now, previous, reason),
    ]
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        **_addresses(runner.pod_ip, host_ip),
        "startTime": runner.start_time,
        "containerStatuses": [container_status(run) for run in mains],
    }
    inits = [run for run in runs if run.plan.kind != "main"]
    if inits:
        status["initContainerStatuses"] = [container_status(run) for run in inits]
    return status


def waiting(
    pod: Mapping[str, Any], *, pod_ip: str, host_ip: str, reason: str, message: str, now: str
) -> dict[str, Any]:
    """The status of a bound pod whose containers cannot start yet (Pending, each container waiting)."""
    previous = pod.get("status") or {}
    spec = pod.get("spec", {})
    state = {"waiting": {"reason": reason, "message": message}}

    def _entry(container: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 0,
            "state": state,
            "lastState": {},
        }

    status: dict[str, Any] = {
        "phase": "Pending",
        "conditions": [
            *_scheduled(previous),
            _condition("PodReadyToStartContainers", False, now, previous),
            _condition("Initialized", not spec.get("initContainers"), now, previous, "ContainersNotInitialized"),
            _condition("ContainersReady", False, now, previous, "ContainersNotReady"),
            _condition("Ready", False, now, previous, "ContainersNotReady"),
        ],
        **_addresses(pod_ip, host_ip),
        "startTime": previous.get("startTime") or now,
        "containerStatuses": [_entry(c) for c in spec.get("containers") or []],
    }
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [_entry(c) for c in spec["initContainers"]]
    return status
