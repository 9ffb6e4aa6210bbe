"""The node agent's control loop: register the Node, bind pods, run them, report them, delete them.

It lists pods every `poll_interval_s` instead of watching: a level-triggered loop over a full list
has no watch to re-establish after a timeout or an expired resourceVersion, it never misses an
event, and with the dozen pods of this series a list costs a millisecond. The price is up to one
interval of latency (a kubelet reacts to a watch at once).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import pathlib
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client import rest as k8s_rest

from helpers import errors, files, settings as settings_module
from helpers.local import pids, supervisor
from helpers.local.node import (
    addresses,
    clusterdns,
    logserver,
    nodeapi,
    nodeobject,
    podplan,
    podrun,
    podstatus,
    probing,
    serviceproxy,
    shim as shim_module,
)

logger = logging.getLogger(__name__)

DEFAULT_NODE_NAME = "kubeflow-mnist-node"
# Seconds between two lists of pods: the node's reaction time to a new or deleted pod.
POLL_INTERVAL_S = 0.5
# Seconds between Node heartbeats; with no node lifecycle controller running this is only for show.
HEARTBEAT_S = 20.0
# How long a pod waits for the Services its env or args name (TF_CONFIG names one per replica)
# before it starts with whatever resolves; the operator creates them within a second of the pods.
UNRESOLVED_WAIT_S = 30.0
PIDS_FILE = "pids.json"
# The cluster names the shim answers from (`clusterdns`), in the node's folder.
HOSTS_FILE = "hosts"
# Seconds before a final delete that did not take (the pod is still listed) is sent again.
DELETE_RETRY_S = 5.0


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """How the agent runs: its Node name, folder, pace and the variables every container gets."""

    state_dir: pathlib.Path
    name: str = DEFAULT_NODE_NAME
    poll_interval_s: float = POLL_INTERVAL_S
    node_env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    unresolved_wait_s: float = UNRESOLVED_WAIT_S
    kubelet_port: int = 0
    """Port of the HTTPS log endpoint on 127.0.0.1 (0: a free one)."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _age_s(pod: Mapping[str, Any], now: datetime.datetime) -> float:
    created = pod["metadata"].get("creationTimestamp")
    if not created:
        return 0.0
    moment = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    return (now - moment).total_seconds()


class NodeAgent:
    """One node of the cluster whose pods are local processes."""

    def __init__(
        self,
        *,
        api_client: Any,
        config: NodeConfig,
        settings: settings_module.Settings | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: podrun.WallClock = _now,
        popen: supervisor.PopenFactory = subprocess.Popen,
        prober: probing.Prober = probing.probe,
        shim: pathlib.Path | bool | None = True,
    ) -> None:
        self.config = config
        self.api = nodeapi.NodeApi(api_client)
        self.settings = settings or settings_module.Settings(state_dir=config.state_dir, backend="local")
        self._clock, self._wall_clock, self._popen, self._prober = clock, wall_clock, popen, prober
        self.shim = shim_module.build(config.state_dir / "shim") if shim is True else (shim or None)
        self.hosts = clusterdns.HostsFile(config.state_dir / HOSTS_FILE)
        block = addresses.block_for(str(config.state_dir.resolve()))
        self.addresses = addresses.Addresses(block=block)
        self.proxy = serviceproxy.ServiceProxy(block=block)
        self.runners: dict[str, podrun.PodRunner] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._patched: dict[str, str] = {}
        self._deleted: dict[str, float] = {}
        self._last_heartbeat = -HEARTBEAT_S
        self._pids_written = ""
        self.log_server = logserver.LogServer(
            lookup=self._logs, host=addresses.NODE_ADDRESS, port=config.kubelet_port, cert_dir=config.state_dir / "pki"
        )

    # --- the Node -------------------------------------------------------------------------

    def register(self) -> None:
        """Create (or refresh) the Node, start the log endpoint, and lift the not-ready taint."""
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftovers()
        self.log_server.start()
        now = podrun.rfc3339(self._wall_clock())
        body = nodeobject.manifest(self.config.name, kubelet_port=self.log_server.port, now=now)
        self.api.register_node(body, lift_taint=nodeobject.without_not_ready)
        self._heartbeat(force=True)
        logger.info("node %s registered, logs on https://127.0.0.1:%s", self.config.name, self.log_server.port)

    def _heartbeat(self, *, force: bool = False) -> None:
        if not force and self._clock() - self._last_heartbeat < HEARTBEAT_S:
            return
        self._last_heartbeat = self._clock()
        now = podrun.rfc3339(self._wall_clock())
        status = nodeobject.status(self.config.name, kubelet_port=self.log_server.port, now=now)
        self.api.patch_node_status(self.config.name, status)

    # --- pods -----------------------------------------------------------------------------

    def tick(self) -> None:
        """One pass: bind new pods, advance the ones on this node, report them, forget deleted ones."""
        pods = self.api.pods()
        services = self.api.services()
        # Every pod on this node gets its address before any of them starts, so the names in the hosts
        # file are there when a task resolves its peers (JobSet's pods start together).
        for pod in pods:
            metadata = pod["metadata"]
            if pod.get("spec", {}).get("nodeName") == self.config.name and not metadata.get("deletionTimestamp"):
                self.addresses.assign(metadata["namespace"], metadata["name"])
        self.proxy.sync(services, pods, self.addresses.known())
        self.hosts.write(
            clusterdns.records(
                services=services, pods=pods, pod_addresses=self.addresses.known(), virtual_ips=self.proxy.known()
            )
        )
        seen = set()
        for pod in pods:
            spec, metadata = pod.get("spec", {}), pod["metadata"]
            if not spec.get("nodeName") and not metadata.get("deletionTimestamp"):
                if spec.get("schedulerName", "default-scheduler") == "default-scheduler":
                    self._bind(pod)
                continue
            if spec.get("nodeName") != self.config.name:
                continue
            seen.add(metadata["uid"])
            self._reconcile(pod, pods=pods, services=services)
        for uid in list(self.runners):
            if uid not in seen:
                self._forget(uid)
        self._record_pids()
        self._heartbeat()

    def _bind(self, pod: Mapping[str, Any]) -> None:
        metadata = pod["metadata"]
        if self.api.bind(metadata["namespace"], metadata["name"], metadata["uid"], node=self.config.name):
            logger.info("bound %s/%s to %s", metadata["namespace"], metadata["name"], self.config.name)

    def _reconcile(self, pod: dict[str, Any], *, pods: list[dict[str, Any]], services: list[dict[str, Any]]) -> None:
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
        if lock.acquire(blocking=False):
            try:
                runner.tick()
            finally:
                lock.release()
        now = podrun.rfc3339(self._wall_clock())
        status = podstatus.of_runner(runner, host_ip=addresses.NODE_ADDRESS, now=now, previous=pod.get("status") or {})
        self._patch_status(namespace, name, uid, status)

    def _prepare(
        self, pod: dict[str, Any], *, pods: list[dict[str, Any]], services: list[dict[str, Any]]
    ) -> podrun.PodRunner | None:
        """Plan and create the runner of a pod new to this node; None while it has to wait."""
        metadata = pod["metadata"]
        uid, namespace, name = metadata["uid"], metadata["namespace"], metadata["name"]
        pod_ip = self.addresses.assign(namespace, name)
        pod = {**pod, "status": {**(pod.get("status") or {}), "podIP": pod_ip, "hostIP": addresses.NODE_ADDRESS}}
        pod["status"]["podIPs"], pod["status"]["hostIPs"] = [{"ip": pod_ip}], [{"ip": addresses.NODE_ADDRESS}]
        resolver = addresses.Resolver(
            namespace=namespace,
            services=services,
            pods=pods,
            addresses=self.addresses.known(),
            virtual_ips=self.proxy.known(),
        )
        pod_dir = self.config.state_dir / "pods" / f"{namespace}_{name}_{uid}"
        context = podplan.PodContext(
            settings=self.settings,
            pod_ip=pod_ip,
            resolver=resolver,
            secrets=self.api.secret,
            config_maps=self.api.config_map,
            node_allocatable=nodeobject.capacity(),
            pod_dir=pod_dir,
            shim=self.shim,
            hosts_file=self.hosts.path,
            node_env=self.config.node_env,
        )
        now = podrun.rfc3339(self._wall_clock())
        try:
            plans = podplan.plan(pod, context)
        except errors.ConfigError as e:
            status = podstatus.waiting(
                pod, pod_ip=pod_ip, host_ip=addresses.NODE_ADDRESS, reason="CreateContainerConfigError",
                message=str(e), now=now,
            )  # fmt: skip
            self._patch_status(namespace, name, uid, status)
            return None
        if resolver.unresolved and _age_s(pod, self._wall_clock()) < self.config.unresolved_wait_s:
            message = f"waiting for Service names to resolve: {', '.join(sorted(resolver.unresolved))}"
            status = podstatus.waiting(
                pod, pod_ip=pod_ip, host_ip=addresses.NODE_ADDRESS, reason="ContainerCreating", message=message, now=now
            )
            self._patch_status(namespace, name, uid, status)
            return None
        if resolver.unresolved:
            logger.warning("%s/%s starts with unresolved names: %s", namespace, name, sorted(resolver.unresolved))
        runner = podrun.PodRunner(
            pod,
            plans,
            settings=self.settings,
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
        if self._patched.get(uid) != shaped and self.api.patch_pod_status(namespace, name, uid, status):
            self._patched[uid] = shaped

    def _terminate(self, pod: dict[str, Any], runner: podrun.PodRunner | None) -> None:
        """A pod being deleted: stop its containers with the grace period (in a thread), then delete it for good."""
        metadata = pod["metadata"]
        uid = metadata["uid"]
        if runner is not None and not runner.stopping:
            grace = float(
                metadata.get(
                    "deletionGracePeriodSeconds", runner.pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
                )
            )
            threading.Thread(target=runner.stop, args=(grace,), name=f"stop-{metadata['name']}", daemon=True).start()
            return
        if runner is not None and not runner.stopped:
            return
        if runner is not None:
            now = podrun.rfc3339(self._wall_clock())
            status = podstatus.of_runner(
                runner, host_ip=addresses.NODE_ADDRESS, now=now, previous=pod.get("status") or {}
            )
            self._patch_status(metadata["namespace"], metadata["name"], uid, status)
        last = self._deleted.get(uid)
        if last is not None and self._clock() - last < DELETE_RETRY_S:
            return
        self._deleted[uid] = self._clock()
        self.api.delete_pod_now(metadata["namespace"], metadata["name"], uid)

    def _forget(self, uid: str) -> None:
        """A pod gone from the API: stop whatever still runs and drop its records."""
        runner = self.runners.pop(uid)
        self._locks.pop(uid, None)
        self._patched.pop(uid, None)
        if not runner.stopped:
            threading.Thread(target=runner.stop, args=(0.0,), daemon=True).start()
        shutil.rmtree(runner.log_dir.parent / "volumes", ignore_errors=True)

    def resolve(self, text: str, *, namespace: str) -> str:
        """`text` with cluster Service names replaced by pod addresses, as a pod in `namespace` sees them.

        For callers outside the cluster (a test, a notebook on the host): `kubectl port-forward`'s job here.
        """
        pods, services = self.api.pods(), self.api.services()
        resolver = addresses.Resolver(
            namespace=namespace,
            services=services,
            pods=pods,
            addresses=self.addresses.known(),
            virtual_ips=self.proxy.known(),
        )
        return resolver.rewrite(text)

    def outside_env(self, namespace: str = "") -> dict[str, str]:
        """The variables with which a process on the host resolves cluster names as a pod in `namespace` would.

        For a notebook's kernel (papermill) playing a Kubeflow notebook server pod: the shim answers
        `<svc>.<ns>.svc.cluster.local` (and, with `namespace`, the short `<svc>`) with the Service's
        virtual IP, which reaches a ready pod, and JobSet hostnames with their pods. Binds stay as they
        are (no pod IP). Empty without a C compiler (no shim): then use `resolve` on URLs instead.
        """
        return shim_module.environment(
            self.shim,
            hosts_file=self.hosts.path,
            search=clusterdns.search_path(namespace),
            inherited_preload=os.environ.get("LD_PRELOAD", ""),
        )

    # --- logs and leftovers ---------------------------------------------------------------

    def _logs(self, namespace: str, name: str, container: str) -> logserver.ContainerLogs | None:
        for runner in list(self.runners.values()):
            metadata = runner.pod["metadata"]
            if metadata["namespace"] == namespace and metadata["name"] == name and container in runner.runs:
                run = runner.runs[container]

                def _running(run: podrun.ContainerRun = run) -> bool:
                    return run.state == "running"

                return logserver.ContainerLogs(list(run.instances), _running)
        return None

    def _record_pids(self) -> None:
        records = {
            f"{uid}/{name}": pids.record(run.pid, [])
            for uid, runner in self.runners.items()
            for name, run in runner.runs.items()
            if run.state == "running" and run.pid
        }
        shaped = json.dumps(sorted(records))
        if shaped != self._pids_written:
            files.write_json(self.config.state_dir / PIDS_FILE, records)
            self._pids_written = shaped

    def _stop_leftovers(self) -> None:
        """Stop the containers a previous agent on this folder left running (it was killed)."""
        path = self.config.state_dir / PIDS_FILE
        if not path.exists():
            return
        for record in json.loads(path.read_text()).values():
            if pids.stop(record, grace_s=1.0):
                logger.info("stopped leftover container process %s", record["pid"])
        path.unlink()

    # --- running --------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Register, then tick until `stop` is set; stops every pod's processes before returning."""
        self.register()
        try:
            while not stop.is_set():
                started = self._clock()
                try:
                    self.tick()
                except (k8s_rest.ApiException, OSError) as e:
                    # The API server restarting or a dropped connection: the next pass tries again.
                    logger.warning("node pass failed, retrying: %s", e)
                stop.wait(max(0.0, self.config.poll_interval_s - (self._clock() - started)))
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop every pod's processes (short grace) and the log endpoint."""
        for runner in list(self.runners.values()):
            if not runner.stopped:
                runner.stop(min(self.settings.stop_grace_s, 5.0))
        (self.config.state_dir / PIDS_FILE).unlink(missing_ok=True)
        self.proxy.close()
        self.log_server.stop()
