"""Cluster DNS for the node's processes: a hosts-format file of cluster names, kept current by the agent.

A kubelet points a pod's resolv.conf at CoreDNS, which answers from Services and their endpoints. Here
the preloaded shim (`shim`) answers `getaddrinfo` from this file instead, trying a name through the
pod's search path the way the resolver would, and falls through to the real resolver for anything
else. The file holds fully qualified names only, as the Kubernetes DNS spec gives them:

- `<svc>.<ns>.svc.cluster.local`: the Service's virtual IP (`serviceproxy`) for a ClusterIP
  Service, or every endpoint pod's address for a headless one (ready pods only, unless the Service
  publishes not-ready addresses, as JobSet's does);
- `<hostname>.<subdomain>.<ns>.svc.cluster.local`: a pod with `hostname` and `subdomain` that is an
  endpoint of the headless Service named `subdomain` (JobSet's pods, how TF_CONFIG names its tasks).

Short forms (`<svc>`, `<svc>.<ns>`, `<host>.<subdomain>`) come from the search path, which depends on
the asking pod's namespace, so it is an environment variable per process, not part of the file.
The file is replaced in one rename, so a process reading it mid-update sees the old or the new one.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from helpers.local.node import addresses

# A pod's resolv.conf in Kubernetes: `ndots:5` and these search domains after `<ns>.svc.cluster.local`.
CLUSTER_SEARCH = ("svc." + addresses.CLUSTER_DOMAIN, addresses.CLUSTER_DOMAIN)
Records = dict[str, list[str]]


def search_path(namespace: str) -> str:
    """The search domains of a pod in `namespace` (none of its own when `namespace` is empty), space-separated."""
    own = [f"{namespace}.svc.{addresses.CLUSTER_DOMAIN}"] if namespace else []
    return " ".join([*own, *CLUSTER_SEARCH])


def _endpoints(
    service: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], known: Mapping[tuple[str, str], str]
) -> list[Mapping[str, Any]]:
    spec = service.get("spec", {})
    selector = spec.get("selector") or {}
    namespace = service["metadata"]["namespace"]
    publish = bool(spec.get("publishNotReadyAddresses"))
    return [
        pod
        for pod in pods
        if pod["metadata"].get("namespace") == namespace
        and not pod["metadata"].get("deletionTimestamp")
        and addresses.selects(selector, pod)
        and (namespace, pod["metadata"]["name"]) in known
        and (publish or addresses.is_ready(pod))
    ]


def records(
    *,
    services: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    pod_addresses: Mapping[tuple[str, str], str],
    virtual_ips: Mapping[tuple[str, str], str],
) -> Records:
    """Every cluster name this node can answer, fully qualified, with its addresses (rules in the module docstring)."""
    found: Records = {}
    for service in services:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        fqdn = f"{name}.{namespace}.svc.{addresses.CLUSTER_DOMAIN}"
        if service.get("spec", {}).get("clusterIP") != "None":
            virtual_ip = virtual_ips.get((namespace, name))
            if virtual_ip is not None:
                found[fqdn] = [virtual_ip]
            continue
        endpoints = _endpoints(service, pods, pod_addresses)
        if endpoints:
            found[fqdn] = [pod_addresses[(namespace, pod["metadata"]["name"])] for pod in endpoints]
        for pod in endpoints:
            spec = pod.get("spec", {})
            if spec.get("hostname") and spec.get("subdomain") == name:
                host = f"{spec['hostname']}.{name}.{namespace}.svc.{addresses.CLUSTER_DOMAIN}"
                found[host] = [pod_addresses[(namespace, pod["metadata"]["name"])]]
    return found


class HostsFile:
    """The hosts-format file the shim reads; `write` replaces it only when the records changed."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._written: str | None = None

    def write(self, found: Records) -> None:
        """Replace the file with `found` (one `address name` line per pair) in one rename."""
        text = "".join(f"{address} {name}\n" for name in sorted(found) for address in found[name])
        if text == self._written:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}-")
        try:
            with os.fdopen(handle, "w") as file:
                file.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, self.path)
        except BaseException:
            pathlib.Path(temporary).unlink(missing_ok=True)
            raise
        self._written = text
