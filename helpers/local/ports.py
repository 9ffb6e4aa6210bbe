"""Free loopback ports for local replicas and servers.

Binding port 0 on 127.0.0.1 lets the kernel choose a port no one holds, so two local runs
(or two engineers on one machine) never collide. The picker is a plain callable so the
supervisor and tests can inject their own.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

LOOPBACK = "127.0.0.1"

PortPicker = Callable[[], int]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the socket is closed before returning)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port
