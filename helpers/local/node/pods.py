"""The pods bound to this node, each through a kubelet's steps: bind, plan, run, report, terminate, forget.

One `PodKeeper.reconcile` per pod and agent pass, level-triggered like the agent's loop: whatever the
pod's record says now (new, running, being deleted) decides the next step, so a missed pass changes
nothing. A status is patched only when it changed, a final delete retried only after `DELETE_RETRY_S`.
The clocks, Popen factory and prober are arguments so tests can script whole histories.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import pathlib
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from helpers import errors, settings as settings_module
from helpers.local import supervisor
from helpers.local.node import addresses, logserver, network, nodeapi, nodeobject, podplan, podrun, podstatus, probing

logger = logging.getLogger(__name__)

# How long a pod waits for the Services its env or args name (TF_CONFIG names one per replica)
# before it starts with whatever resolves; the operator creates them within a second of the pods.
UNRESOLVED_WAIT_S = 30.0
# Seconds before a final delete that did not take (the pod is still listed) is sent again.
DELETE_RETRY_S = 5.0
# A pod's grace period when neither its deletion nor its spec names one (the API server's default).
DEFAULT_GRACE_S = 30


@dataclasses.dataclass(frozen=True)
class PodSetup:
    """What every pod on the node is started with."""

    settings: settings_module.Settings
    pods_dir: pathlib.Path
    """Each pod's logs and volumes go in `<namespace>_<name>_<uid>` under it."""
    shim: pathlib.Path | None
    node_env: Mapping[str, str]
    unresolved_wait_s: float = UNRESOLVED_WAIT_S


def _age_s(pod: Mapping[str, Any], now: datetime.datetime) -> float:
    created = pod["metadata"].get("creationTimestamp")
    if not created:
        return 0.0
    moment = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    return (now - moment).total_seconds()


class PodKeeper:
    """Runs the pods bound to one node; `runners` holds the live ones by uid."""

    def __init__(
        self,
        api: nodeapi.NodeApi,
        network: network.NodeNetwork,
        setup: PodSetup,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: podrun.WallClock,
        popen: supervisor.PopenFactory = subprocess.Popen,
        prober: probing.Prober = probing.probe,
    ) -> None:
        self._api, self._network, self._setup = api, network, setup
        self._clock, self._wall_clock, self._popen, self._prober = clock, wall_clock, popen, prober
        self.runners: dict[str, podrun.PodRunner] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._patched: dict[str, str] = {}
        self._deleted: dict[str, float] = {}

    def bind(self, pod: Mapping[str, Any], node: str) -> None:
        """Bind an unscheduled pod to `node` (the scheduler's job, with one node to choose)."""
        metadata = pod["metadata"]
        if self._api.bind(metadata["namespace"], metadata["name"], metadata["uid"], node=node):
            logger.info("bound %s/%s to %s", metadata["namespace"], metadata["name"], node)

    def reconcile(self, pod: dict[str, Any], *, pods: list[dict[str, Any]], services: list[dict[str, Any]]) -> None:
        """Take one step for a pod on this node: terminate it, start it, or advance it; then report it."""
        metadata = pod["metadata"]
        uid, namespace, name = metadata["uid"], metadata["namespace"], metadata["name"]
        runner = self.runners.get(uid)
        if metadata.get("deletionTimestamp"):
            self._terminate(pod, runner)
            return
        if runner is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                return
            runner = self._prepare(pod, pods=pods, services=services)
            if runner is None:
                return
        lock = self._locks[uid]
        # A stop in its own thread holds the lock; the pass moves on rather than wait for it.
        if lock.acquire(blocking=False):
            try:
                runner.tick()
            finally:
                lock.release()
        self._report(namespace, name, uid, runner, previous=pod.get("status") or {})

    def _report(
        self, namespace: str, name: str, uid: str, runner: podrun.PodRunner, *, previous: Mapping[str, Any]
    ) -> None:
        now = podrun.rfc3339(self._wall_clock())
        status = podstatus.of_runner(runner, host_ip=addresses.NODE_ADDRESS, now=now, previous=dict(previous))
        self._patch_status(namespace, name, uid, status)

    def _waiting(self, pod: Mapping[str, Any], pod_ip: str, reason: str, message: str) -> None:
        metadata = pod["metadata"]
        now = podrun.rfc3339(self._wall_clock())
        status = podstatus.waiting(
            pod, pod_ip=pod_ip, host_ip=addresses.NODE_ADDRESS, reason=reason, message=message, now=now
        )
        self._patch_status(metadata["namespace"], metadata["name"], metadata["uid"], status)

    def _prepare(
        self, pod: dict[str, Any], *, pods: list[dict[str, Any]], services: list[dict[str, Any]]
    ) -> podrun.PodRunner | None:
        """Plan and create the runner of a pod new to this node; None while it has to wait."""
        metadata = pod["metadata"]
        uid, namespace, name = metadata["uid"], metadata["namespace"], metadata["name"]
        pod_ip = self._network.addresses.assign(namespace, name)
        pod = {**pod, "status": {**(pod.get("status") or {}), "podIP": pod_ip, "hostIP": addresses.NODE_ADDRESS}}
        pod["status"]["podIPs"], pod["status"]["hostIPs"] = [{"ip": pod_ip}], [{"ip": addresses.NODE_ADDRESS}]
        resolver = self._network.resolver(namespace, pods, services)
        pod_dir = self._setup.pods_dir / f"{namespace}_{name}_{uid}"
        context = podplan.PodContext(
            settings=self._setup.settings,
            pod_ip=pod_ip,
            resolver=resolver,
            secrets=self._api.secret,
            config_maps=self._api.config_map,
            node_allocatable=nodeobject.capacity(),
            pod_dir=pod_dir,
            shim=self._setup.shim,
            hosts_file=self._network.hosts.path,
            node_env=self._setup.node_env,
        )
        try:
            plans = podplan.plan(pod, context)
        except errors.ConfigError as e:
            self._waiting(pod, pod_ip, "CreateContainerConfigError", str(e))
            return None
        if resolver.unresolved and _age_s(pod, self._wall_clock()) < self._setup.unresolved_wait_s:
            message = f"waiting for Service names to resolve: {', '.join(sorted(resolver.unresolved))}"
            self._waiting(pod, pod_ip, "ContainerCreating", message)
            return None
        if resolver.unresolved:
            logger.warning("%s/%s starts with unresolved names: %s", namespace, name, sorted(resolver.unresolved))
        runner = podrun.PodRunner(
            pod,
            plans,
            settings=self._setup.settings,
            pod_ip=pod_ip,
            log_dir=pod_dir / "logs",
            clock=self._clock,
            wall_clock=self._wall_clock,
            popen=self._popen,
            prober=self._prober,
        )
        self.runners[uid] = runner
        self._locks[uid] = threading.Lock()
        logger.info("running %s/%s on %s", namespace, name, pod_ip)
        return runner

    def _patch_status(self, namespace: str, name: str, uid: str, status: dict[str, Any]) -> None:
        shaped = json.dumps(status, sort_keys=True)
        if self._patched.get(uid) != shaped and self._api.patch_pod_status(namespace, name, uid, status):
            self._patched[uid] = shaped

    def _terminate(self, pod: dict[str, Any], runner: podrun.PodRunner | None) -> None:
        """A pod being deleted: stop its containers with the grace period (in a thread), then delete it for good."""
        metadata = pod["metadata"]
        uid = metadata["uid"]
        if runner is not None and not runner.stopping:
            default = runner.pod.get("spec", {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE_S)
            grace = float(metadata.get("deletionGracePeriodSeconds", default))
            threading.Thread(target=runner.stop, args=(grace,), name=f"stop-{metadata['name']}", daemon=True).start()
            return
        if runner is not None and not runner.stopped:
            return
        if runner is not None:
            self._report(metadata["namespace"], metadata["name"], uid, runner, previous=pod.get("status") or {})
        last = self._deleted.get(uid)
        if last is not None and self._clock() - last < DELETE_RETRY_S:
            return
        self._deleted[uid] = self._clock()
        self._api.delete_pod_now(metadata["namespace"], metadata["name"], uid)

    def forget_all_but(self, seen: set[str]) -> None:
        """Forget the pods gone from the API (not in `seen`): stop whatever still runs and drop their records."""
        for uid in list(self.runners):
            if uid not in seen:
                runner = self.runners.pop(uid)
                self._locks.pop(uid, None)
                self._patched.pop(uid, None)
                if not runner.stopped:
                    threading.Thread(target=runner.stop, args=(0.0,), daemon=True).start()
                shutil.rmtree(runner.log_dir.parent / "volumes", ignore_errors=True)

    def logs(self, namespace: str, name: str, container: str) -> logserver.ContainerLogs | None:
        """The log files of a container on this node (the log endpoint's lookup); None if it is not here."""
        for runner in list(self.runners.values()):
            metadata = runner.pod["metadata"]
            if metadata["namespace"] == namespace and metadata["name"] == name and container in runner.runs:
                run = runner.runs[container]

                def _running(run: podrun.ContainerRun = run) -> bool:
                    return run.state == "running"

                return logserver.ContainerLogs(list(run.instances), _running)
        return None

    def stop_all(self, grace_s: float) -> None:
        """Stop every pod's processes with `grace_s`, one pod after the other."""
        for runner in list(self.runners.values()):
            if not runner.stopped:
                runner.stop(grace_s)
