"""The node's network as its pods see it: their addresses, the Services' virtual IPs, and the names that reach them.

On a cluster this is three parts (the CNI plugin's pod IPs, kube-proxy's Service IPs, CoreDNS's
names); here one object keeps them in step from the same list of pods and Services, once per agent
pass, so that a name in the hosts file never points at an address the proxy or the pods do not hold.
Every pod on this node gets its address in `sync`, before any of them starts: JobSet's tasks start
together and resolve each other at once.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from helpers.local.node import addresses, clusterdns, serviceproxy


class NodeNetwork:
    """Pod addresses (`addresses`), virtual IPs (`serviceproxy`) and the hosts file (`clusterdns`) of one node."""

    def __init__(self, *, block: int, hosts_path: pathlib.Path) -> None:
        """`block`: the node's address block (`addresses.block_for`); `hosts_path`: where the shim reads names."""
        self.addresses = addresses.Addresses(block=block)
        self.proxy = serviceproxy.ServiceProxy(block=block)
        self.hosts = clusterdns.HostsFile(hosts_path)

    def sync(self, pods: Sequence[Mapping[str, Any]], services: Sequence[Mapping[str, Any]], *, node: str) -> None:
        """Give every live pod on `node` its address, point the Services' listeners at ready pods, rewrite the names."""
        for pod in pods:
            metadata = pod["metadata"]
            if pod.get("spec", {}).get("nodeName") == node and not metadata.get("deletionTimestamp"):
                self.addresses.assign(metadata["namespace"], metadata["name"])
        self.proxy.sync(services, pods, self.addresses.known())
        self.hosts.write(
            clusterdns.records(
                services=services,
                pods=pods,
                pod_addresses=self.addresses.known(),
                virtual_ips=self.proxy.known(),
            )
        )

    def resolver(
        self, namespace: str, pods: Sequence[Mapping[str, Any]], services: Sequence[Mapping[str, Any]]
    ) -> addresses.Resolver:
        """Service names as a pod in `namespace` resolves them, from this snapshot of pods and Services."""
        return addresses.Resolver(
            namespace=namespace,
            services=services,
            pods=pods,
            addresses=self.addresses.known(),
            virtual_ips=self.proxy.known(),
        )

    def close(self) -> None:
        """Close the Services' listeners."""
        self.proxy.close()
