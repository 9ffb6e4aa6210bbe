"""probes: readiness counted like the kubelet (HTTP 200-399, TCP connect) on the local port."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import errors
from helpers.local import containers, ports, probes, supervisor


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ready" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture
def server_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer((ports.LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def local(port: int) -> containers.LocalProcess:
    spec = supervisor.ProcessSpec(name="web", argv=[], env={})
    return containers.LocalProcess(spec=spec, ports={8000: port}, port_names={"http": 8000})


@pytest.mark.parametrize(("path", "ready"), [("/ready", True), ("/starting", False)])
def test_http_probe_by_port_name(server_port: int, path: str, ready: bool) -> None:
    container = {"readinessProbe": {"httpGet": {"path": path, "port": "http"}}}
    readiness = probes.from_container(container, local(server_port))
    assert readiness == {"kind": "http", "port": server_port, "path": path}
    assert probes.passes(readiness) is ready


def test_tcp_probe_by_port_number(server_port: int) -> None:
    readiness = probes.from_container({"readinessProbe": {"tcpSocket": {"port": 8000}}}, local(server_port))
    assert probes.passes(readiness)
    with socket.socket() as closed:
        closed.bind((ports.LOOPBACK, 0))
        nobody = closed.getsockname()[1]
    assert not probes.passes({"kind": "tcp", "port": nobody, "path": ""})
    assert not probes.passes({"kind": "http", "port": nobody, "path": "/"})


def test_no_probe_is_ready_at_once() -> None:
    assert probes.passes(probes.from_container({}, local(1)))


def test_probe_on_an_undeclared_port_is_refused() -> None:
    with pytest.raises(errors.ConfigError, match="not a declared containerPort"):
        probes.from_container({"readinessProbe": {"httpGet": {"path": "/", "port": "metrics"}}}, local(1))
