"""ports.free_port: a loopback port that can really be bound."""

from __future__ import annotations

import socket

from helpers.local import ports


def test_free_port_can_be_bound_on_loopback() -> None:
    port = ports.free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as server:
        server.bind((ports.LOOPBACK, port))
