"""Service virtual IPs: a connection to VIP:port reaches whichever ready pod backs the Service now."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from helpers.local import ports
from helpers.local.node import addresses, serviceproxy


class _Answer(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(self.server.server_address[0].encode())  # type: ignore[attr-defined]


@pytest.fixture
def pod_servers() -> Iterator[list[socketserver.TCPServer]]:
    servers = [socketserver.ThreadingTCPServer((ip, 0), _Answer) for ip in ("127.0.0.40", "127.0.0.41")]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def _pod(name: str, port: int, *, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": {"app": "s"}},
        "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _ask(address: str, port: int) -> str:
    with socket.create_connection((address, port), timeout=5) as connection:
        return connection.recv(100).decode()


def test_the_virtual_ip_follows_the_ready_pod(pod_servers: list[socketserver.TCPServer]) -> None:
    first, second = ((server.server_address[0], server.server_address[1]) for server in pod_servers)
    # A port no other session's node agent serves on its first virtual IP (127.1.0.1) at the same time.
    port = ports.free_port()
    service = {"metadata": {"name": "serving", "namespace": "ns"},
               "spec": {"selector": {"app": "s"}, "ports": [{"port": port, "targetPort": "http"}]}}  # fmt: skip
    proxy = serviceproxy.ServiceProxy()
    try:
        pods = [_pod("old", first[1]), _pod("new", second[1], ready=False)]
        known = {("ns", "old"): first[0], ("ns", "new"): second[0]}
        proxy.sync([service], pods, known)
        virtual_ip = proxy.address("ns", "serving")
        assert virtual_ip is not None and virtual_ip.startswith("127.1.")
        resolver = addresses.Resolver(namespace="ns", services=[service], pods=pods, addresses=known,
                                      virtual_ips=proxy.known())  # fmt: skip
        assert resolver.rewrite(f"http://serving:{port}/") == f"http://{virtual_ip}:{port}/"
        assert _ask(virtual_ip, port) == first[0]
        # The Deployment replaced the pod: the same virtual IP now reaches the new one.
        proxy.sync([service], [_pod("new", second[1])], known)
        assert _ask(virtual_ip, port) == second[0]
    finally:
        proxy.close()
