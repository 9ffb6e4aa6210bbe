"""ports.free_port: a loopback port that can really be bound."""

from __future__ import annotations

import pathlib
import socket

from helpers.local import ports


def test_free_port_can_be_bound_on_loopback() -> None:
    port = ports.free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as server:
        server.bind((ports.LOOPBACK, port))


def test_free_ports_come_from_below_the_ephemeral_range(tmp_path: pathlib.Path) -> None:
    """A port inside it can be taken as a source port, even by a client of that port (see ports)."""
    start = ports.ephemeral_start()
    assert all(ports.LOWEST_PORT <= ports.free_port() < start for _ in range(20))
    (tmp_path / "range").write_text("40000\t60999\n")
    assert ports.ephemeral_start(tmp_path / "range") == 40000
    assert ports.ephemeral_start(tmp_path / "missing") == ports.DEFAULT_EPHEMERAL_START
