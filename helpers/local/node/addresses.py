"""Pod addresses on loopback, and cluster DNS names resolved to them.

Every pod gets its own 127.B.x.y (the whole 127/8 is loopback on Linux; 127.0.0.1 is the node). The
block B is the node's own (`block_for`), so two nodes on one machine (two test sessions, a CI run
beside a developer's cluster) never hand out the same address and port. An address sticks to the
pod's namespace and name, so a pod the training operator recreates under the same name is found
where its peers' TF_CONFIG already points, as DNS would find it again. Names are resolved when a
container starts: `<svc>[.<ns>[.svc[.cluster.local]]][:port]` becomes `<pod IP>:<port>` of a pod the
Service selects (a ClusterIP Service's port becomes its targetPort).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

NODE_ADDRESS = "127.0.0.1"
# Pod addresses count up from 127.B.0.2 in the node's block B, services (`serviceproxy`) from
# 127.(B+1).0.1; block 0 keeps 127.0.0.1 for the node and servers started outside pods.
FIRST_POD_ADDRESS = ipaddress.IPv4Address("127.0.0.2")
# Even second octets, each a pod block followed by its service block: 127 nodes fit on one machine.
BLOCKS = 127
# A name with no port in a URL is reached on HTTP's port.
DEFAULT_SERVICE_PORT = 80
CLUSTER_DOMAIN = "cluster.local"

_FQDN = re.compile(r"(?<![\w.-])([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?(?![\w-])")


def block_for(key: str) -> int:
    """The second octet of the pod addresses of the node keyed by `key` (its folder): even, 0 to 252.

    A hash rather than a counter: nodes in separate processes pick without talking to each other; two
    live nodes share a block with probability 1/127.
    """
    return 2 * (int(hashlib.sha256(key.encode()).hexdigest(), 16) % BLOCKS)


class Addresses:
    """Hands out one loopback address per pod (sticky by namespace/name) in block 127.`block`.0.0/16."""

    def __init__(self, *, block: int = 0) -> None:
        self._by_pod: dict[tuple[str, str], str] = {}
        self._next = FIRST_POD_ADDRESS + (block << 16)
        self._last = ipaddress.IPv4Address(f"127.{block}.255.254")

    def assign(self, namespace: str, name: str) -> str:
        """The address of pod `namespace/name`, a new one the first time it is asked for."""
        key = (namespace, name)
        if key not in self._by_pod:
            if self._next > self._last:
                raise RuntimeError("no loopback address left for another pod")
            self._by_pod[key] = str(self._next)
            self._next += 1
        return self._by_pod[key]

    def known(self) -> dict[tuple[str, str], str]:
        """Every address handed out, by (namespace, pod name)."""
        return dict(self._by_pod)


def selects(selector: Mapping[str, str], pod: Mapping[str, Any]) -> bool:
    labels = pod.get("metadata", {}).get("labels") or {}
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def _container_port(pod: Mapping[str, Any], target: int | str) -> int | None:
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in pod.get("spec", {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


class Resolver:
    """Cluster DNS for one pod's namespace, from a snapshot of Services and pod addresses."""

    def __init__(
        self,
        *,
        namespace: str,
        services: Sequence[Mapping[str, Any]],
        pods: Sequence[Mapping[str, Any]],
        addresses: Mapping[tuple[str, str], str],
        virtual_ips: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self._namespace = namespace
        self._virtual_ips = virtual_ips or {}
        self._services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services}
        self._pods = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
        self._addresses = addresses
        self.unresolved: set[str] = set()
        """Fully qualified Service names met that had no pod with an address yet."""

    def _backend(self, service: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """A pod the Service selects that has an address (ready ones first)."""
        selector = service.get("spec", {}).get("selector") or {}
        namespace = service["metadata"]["namespace"]
        chosen = [
            p
            for p in self._pods
            if p["metadata"].get("namespace") == namespace
            and selects(selector, p)
            and (namespace, p["metadata"]["name"]) in self._addresses
        ]
        ready = [p for p in chosen if is_ready(p)]
        candidates = ready or chosen
        return candidates[0] if candidates else None

    def backends(self, service: Mapping[str, Any], port: int) -> list[tuple[str, int]]:
        """(pod IP, target port) of every ready pod behind Service port `port` (the proxy's endpoints)."""
        selector = service.get("spec", {}).get("selector") or {}
        namespace = service["metadata"]["namespace"]
        declared = next((p for p in service.get("spec", {}).get("ports") or [] if int(p["port"]) == port), None)
        found = []
        for pod in self._pods:
            key = (pod["metadata"].get("namespace"), pod["metadata"]["name"])
            if key[0] != namespace or not selects(selector, pod) or key not in self._addresses or not is_ready(pod):
                continue
            target = _container_port(pod, declared.get("targetPort", port)) if declared else None
            if target is not None:
                found.append((self._addresses[key], target))
        return found

    def lookup(self, name: str, namespace: str, port: int | None) -> str | None:
        """`<address>:<port>`: a ClusterIP Service's virtual IP and port, else a selected pod's address and
        target port (the IP alone when `port` is None and the Service is headless); None if unknown."""
        service = self._services.get((namespace, name))
        if service is None:
            return None
        virtual_ip = self._virtual_ips.get((namespace, name))
        if virtual_ip is not None and service.get("spec", {}).get("clusterIP") != "None":
            ports = service.get("spec", {}).get("ports") or []
            wanted = DEFAULT_SERVICE_PORT if port is None else port
            if any(int(p["port"]) == wanted for p in ports):
                return f"{virtual_ip}:{wanted}"
            if port is None and len(ports) == 1:
                return f"{virtual_ip}:{ports[0]['port']}"
            return None
        pod = self._backend(service)
        if pod is None:
            return None
        address = self._addresses[(namespace, pod["metadata"]["name"])]
        ports = service.get("spec", {}).get("ports") or []
        headless = service.get("spec", {}).get("clusterIP") == "None"
        if headless:
            return address if port is None else f"{address}:{port}"
        wanted = DEFAULT_SERVICE_PORT if port is None else port
        declared = next((p for p in ports if int(p["port"]) == wanted), None)
        if declared is None and port is None and len(ports) == 1:
            declared = ports[0]
        if declared is None:
            return None
        target = _container_port(pod, declared.get("targetPort", declared["port"]))
        return None if target is None else f"{address}:{target}"

    def scan(self, text: str) -> None:
        """Add the fully qualified Service names in `text` that resolve to no pod yet to `unresolved`."""
        for match in _FQDN.finditer(text):
            if self._services.get((match.group(2), match.group(1))) is None or not self.lookup(
                match.group(1), match.group(2), None
            ):
                self.unresolved.add(match.group(0))

    def rewrite(self, text: str) -> str:
        """`text` with every Service name in it replaced by a pod address (rules in the module docstring)."""
        self.scan(text)
        names = sorted({name for namespace, name in self._services if namespace == self._namespace}, key=len)
        for name in reversed(names):
            text = self._rewrite_one(text, name)
        for namespace, name in self._services:
            if namespace != self._namespace:
                text = self._rewrite_one(text, name, namespace=namespace, short=False)
        return text

    def _rewrite_one(self, text: str, name: str, *, namespace: str | None = None, short: bool = True) -> str:
        namespace = namespace or self._namespace
        suffix = rf"\.{re.escape(namespace)}(?:\.svc(?:\.{re.escape(CLUSTER_DOMAIN)})?)?"
        host = re.escape(name) + (f"(?:{suffix})?" if short else suffix)
        pattern = re.compile(r"(?:(?<![^=@\s\"',\[])|(?<=//))" + host + r"(?::(\d+))?(?![\w.:-])")

        def _one(match: re.Match[str]) -> str:
            port = int(match.group(1)) if match.group(1) else None
            found = self.lookup(name, namespace or "", port)
            if found is None:
                return match.group(0)
            return found

        return pattern.sub(_one, text)


def is_ready(pod: Mapping[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
