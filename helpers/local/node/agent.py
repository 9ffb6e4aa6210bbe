"""The node agent's control loop: register the Node, then one pass over the cluster's pods every interval.

It lists pods every `poll_interval_s` instead of watching: a level-triggered loop over a full list
has no watch to re-establish after a timeout or an expired resourceVersion, it never misses an
event, and with the dozen pods of this series a list costs a millisecond. The price is up to one
interval of latency (a kubelet reacts to a watch at once).

The agent only composes the node's parts, each a module with one job: `heartbeat` (the Node object),
`network` (pod addresses, Service virtual IPs, cluster names), `pods` (each pod's kubelet steps),
`pidrecord` (processes a killed agent left), `logserver` (the kubelet's log endpoint) and `shim` (the
preloaded library that puts each process on its pod's address and answers its cluster names).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import pathlib
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client import rest as k8s_rest

from helpers import settings as settings_module
from helpers.local import supervisor
from helpers.local.node import (
    addresses,
    clusterdns,
    heartbeat,
    logserver,
    network,
    nodeapi,
    pidrecord,
    podrun,
    pods as pods_module,
    probing,
    shim as shim_module,
)

logger = logging.getLogger(__name__)

DEFAULT_NODE_NAME = "kubeflow-mnist-node"
# Seconds between two lists of pods: the node's reaction time to a new or deleted pod.
POLL_INTERVAL_S = 0.5
PIDS_FILE = "pids.json"
# The cluster names the shim answers from (`clusterdns`), in the node's folder.
HOSTS_FILE = "hosts"
# The longest grace a pod gets when the agent shuts down: the session that stops it is waiting.
SHUTDOWN_GRACE_S = 5.0


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """How the agent runs: its Node name, folder, pace and the variables every container gets."""

    state_dir: pathlib.Path
    name: str = DEFAULT_NODE_NAME
    poll_interval_s: float = POLL_INTERVAL_S
    node_env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    unresolved_wait_s: float = pods_module.UNRESOLVED_WAIT_S
    kubelet_port: int = 0
    """Port of the HTTPS log endpoint on 127.0.0.1 (0: a free one)."""


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


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
        """`shim`: True builds the preloaded library in the node's folder, a path uses that one, None or
        False runs pods without it (they then share the node's ports)."""
        self.config = config
        self.api = nodeapi.NodeApi(api_client)
        self.settings = settings or settings_module.Settings(state_dir=config.state_dir, backend="local")
        self._clock = clock
        self.shim = shim_module.build(config.state_dir / "shim") if shim is True else (shim or None)
        block = addresses.block_for(str(config.state_dir.resolve()))
        self.network = network.NodeNetwork(block=block, hosts_path=config.state_dir / HOSTS_FILE)
        setup = pods_module.PodSetup(
            settings=self.settings,
            pods_dir=config.state_dir / "pods",
            shim=self.shim,
            node_env=config.node_env,
            unresolved_wait_s=config.unresolved_wait_s,
        )
        self.pods = pods_module.PodKeeper(
            self.api, self.network, setup, clock=clock, wall_clock=wall_clock, popen=popen, prober=prober
        )
        self.heartbeat = heartbeat.Heartbeat(self.api, config.name, clock=clock, wall_clock=wall_clock)
        self.pid_record = pidrecord.PidRecord(config.state_dir / PIDS_FILE)
        self.log_server = logserver.LogServer(
            lookup=self.pods.logs,
            host=addresses.NODE_ADDRESS,
            port=config.kubelet_port,
            cert_dir=config.state_dir / "pki",
        )

    @property
    def runners(self) -> dict[str, podrun.PodRunner]:
        """The runners of the pods on this node, by uid (tests reach a container's pid through them)."""
        return self.pods.runners

    @property
    def hosts(self) -> clusterdns.HostsFile:
        """The hosts file the shim answers cluster names from."""
        return self.network.hosts

    def register(self) -> None:
        """Create (or refresh) the Node, start the log endpoint, and lift the not-ready taint."""
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.pid_record.stop_leftovers()
        self.log_server.start()
        self.heartbeat.register(kubelet_port=self.log_server.port)
        logger.info("node %s registered, logs on https://127.0.0.1:%s", self.config.name, self.log_server.port)

    def tick(self) -> None:
        """One pass: bind new pods, advance the ones on this node, report them, forget deleted ones."""
        pods = self.api.pods()
        services = self.api.services()
        self.network.sync(pods, services, node=self.config.name)
        seen = set()
        for pod in pods:
            spec, metadata = pod.get("spec", {}), pod["metadata"]
            if not spec.get("nodeName") and not metadata.get("deletionTimestamp"):
                if spec.get("schedulerName", "default-scheduler") == "default-scheduler":
                    self.pods.bind(pod, self.config.name)
                continue
            if spec.get("nodeName") != self.config.name:
                continue
            seen.add(metadata["uid"])
            self.pods.reconcile(pod, pods=pods, services=services)
        self.pods.forget_all_but(seen)
        self.pid_record.write(self.pods.runners)
        self.heartbeat.beat(kubelet_port=self.log_server.port)

    def resolve(self, text: str, *, namespace: str) -> str:
        """`text` with cluster Service names replaced by pod addresses, as a pod in `namespace` sees them.

        For callers outside the cluster (a test, a notebook on the host): `kubectl port-forward`'s job here.
        """
        return self.network.resolver(namespace, self.api.pods(), self.api.services()).rewrite(text)

    def outside_env(self, namespace: str = "") -> dict[str, str]:
        """The variables with which a process on the host resolves cluster names as a pod in `namespace` would.

        For a notebook's kernel (papermill) playing a Kubeflow notebook server pod: the shim answers
        `<svc>.<ns>.svc.cluster.local` (and, with `namespace`, the short `<svc>`) with the Service's
        virtual IP, which reaches a ready pod, and JobSet hostnames with their pods. Binds stay as they
        are (no pod IP). Empty without a C compiler (no shim): then use `resolve` on URLs instead.
        """
        return shim_module.environment(
            self.shim,
            hosts_file=self.network.hosts.path,
            search=clusterdns.search_path(namespace),
            inherited_preload=os.environ.get("LD_PRELOAD", ""),
        )

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
        self.pods.stop_all(min(self.settings.stop_grace_s, SHUTDOWN_GRACE_S))
        self.pid_record.remove()
        self.network.close()
        self.log_server.stop()
