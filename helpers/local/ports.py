"""Free loopback ports for local replicas and servers.

A port is picked below the kernel's ephemeral range and checked by binding it. Binding port 0 would
let the kernel choose one no one holds, but inside the ephemeral range the port can be taken before
its server binds it: by any outgoing connection's source port, and on loopback even by a client that
retries connecting to that very port while its server is not up yet (it connects to itself, TCP's
simultaneous open). TensorFlow's replicas retry the chief's address exactly so, and a chief once
found its port held ("Could not start gRPC server"). The picker is a plain callable so the
supervisor and tests can inject their own.
"""

from __future__ import annotations

import pathlib
import secrets
import socket
from collections.abc import Callable

LOOPBACK = "127.0.0.1"
# Where Linux says its ephemeral range is; elsewhere (or unreadable) DEFAULT_EPHEMERAL_START is assumed.
EPHEMERAL_RANGE = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_START = 32768
# The lowest port handed out: above the registered services that local tools commonly use.
LOWEST_PORT = 10000
# Random picks tried before the kernel's own choice (port 0, the documented fallback) is taken.
ATTEMPTS = 50

PortPicker = Callable[[], int]


def ephemeral_start(path: pathlib.Path = EPHEMERAL_RANGE) -> int:
    """The first port of the kernel's ephemeral range."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_START


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 below the ephemeral range that was free a moment ago (see the module docstring).

    Falls back to a port the kernel picks when the range below is too small or full.
    """
    top = ephemeral_start()
    if top - LOWEST_PORT > ATTEMPTS:
        for _ in range(ATTEMPTS):
            port = LOWEST_PORT + secrets.randbelow(top - LOWEST_PORT)
            if _bindable(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        chosen: int = probe.getsockname()[1]
        return chosen
