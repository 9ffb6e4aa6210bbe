"""Service virtual IPs on loopback: kube-proxy's job, in user space.

Every ClusterIP Service gets its own 127.(B+1).x.y, beside its node's pod block B (sticky by
namespace and name), and a listener per port that forwards each new connection to a ready pod the
Service selects, chosen when the connection opens. A client that resolved `mnist-serving:8501` once
(the UI at its start) so keeps reaching the model server after the Deployment replaced its pod, as
through a cluster's Service IP.
Headless Services have no virtual IP: their names resolve to pod addresses (`addresses`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import logging
import socket
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from helpers.local.node import addresses

logger = logging.getLogger(__name__)

FIRST_SERVICE_ADDRESS = ipaddress.IPv4Address("127.1.0.1")
# Seconds to connect to a backend pod; a pod on loopback answers at once or not at all.
CONNECT_TIMEOUT_S = 2.0
CHUNK_BYTES = 65536
Backend = tuple[str, int]


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(CHUNK_BYTES):
            target.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


class _Listener:
    """One Service port: accepts on VIP:port, forwards to the current backends round-robin."""

    def __init__(self, address: str, port: int) -> None:
        self.backends: list[Backend] = []
        self._turn = itertools.count()
        self._socket = socket.create_server((address, port))
        self._thread = threading.Thread(target=self._serve, name=f"svc-{address}:{port}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        backends = list(self.backends)
        if not backends:
            client.close()  # no ready endpoint: a connection refused, as kube-proxy's REJECT rule does
            return
        host, port = backends[next(self._turn) % len(backends)]
        try:
            upstream = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join()
        client.close()
        upstream.close()

    def close(self) -> None:
        self._socket.close()


class ServiceProxy:
    """Virtual IPs and listeners for every ClusterIP Service, kept in step with the pods by `sync`."""

    def __init__(self, *, block: int = 0) -> None:
        """`block`: the node's pod block (`addresses.block_for`); virtual IPs take the block after it."""
        self._addresses: dict[tuple[str, str], str] = {}
        self._next = FIRST_SERVICE_ADDRESS + (block << 16)
        self._listeners: dict[tuple[str, str, int], _Listener] = {}

    def address(self, namespace: str, name: str) -> str | None:
        """The virtual IP of Service `namespace/name`; None until `sync` saw it."""
        return self._addresses.get((namespace, name))

    def known(self) -> dict[tuple[str, str], str]:
        """Every virtual IP handed out, by (namespace, Service name)."""
        return dict(self._addresses)

    def sync(
        self,
        services: Sequence[Mapping[str, Any]],
        pods: Sequence[Mapping[str, Any]],
        pod_addresses: Mapping[tuple[str, str], str],
    ) -> None:
        """Open listeners for new Services and ports, point each at the ready pods, close removed ones."""
        resolver = addresses.Resolver(namespace="", services=services, pods=pods, addresses=pod_addresses)
        wanted: set[tuple[str, str, int]] = set()
        for service in services:
            spec = service.get("spec", {})
            if spec.get("clusterIP") == "None" or not spec.get("selector"):
                continue
            namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
            if (namespace, name) not in self._addresses:
                self._addresses[(namespace, name)] = str(self._next)
                self._next += 1
            for port in spec.get("ports") or []:
                key = (namespace, name, int(port["port"]))
                wanted.add(key)
                if key not in self._listeners:
                    try:
                        self._listeners[key] = _Listener(self._addresses[(namespace, name)], key[2])
                    except OSError as e:
                        logger.warning("no virtual IP listener for %s/%s:%s: %s", namespace, name, key[2], e)
                        continue
                self._listeners[key].backends = resolver.backends(service, int(port["port"]))
        for key in set(self._listeners) - wanted:
            self._listeners.pop(key).close()

    def close(self) -> None:
        """Close every listener."""
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
