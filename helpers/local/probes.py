"""Readiness probes for local servers, counted the way the kubelet counts them.

An httpGet probe passes on HTTP 200-399 and a tcpSocket probe when a connection opens; the
probe's port (a name or a number) is aimed at the loopback port behind the containerPort.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, TypedDict

from helpers import errors
from helpers.local import containers

# Seconds between readiness probes, and the timeout of one probe (the kubelet's default is 1 s).
PROBE_INTERVAL_S = 0.25
PROBE_TIMEOUT_S = 1.0


class Readiness(TypedDict):
    """A readinessProbe pointed at the local port: kind "http" (with path), "tcp" or "none"."""

    kind: str
    port: int
    path: str


def from_container(container: Mapping[str, Any], process: containers.LocalProcess) -> Readiness:
    """The container's readinessProbe aimed at its local port; kind "none" when it has no probe.

    Raises ConfigError when the probe names a port the container does not declare.
    """
    probe = container.get("readinessProbe") or {}
    action = probe.get("httpGet") or probe.get("tcpSocket")
    if not action:
        return {"kind": "none", "port": 0, "path": ""}
    port = action["port"]
    container_port = process.port_names.get(port) if isinstance(port, str) else int(port)
    if container_port not in process.ports:
        raise errors.ConfigError("readinessProbe.port", port, f"is not a declared containerPort of {process.spec.name}")
    local = process.ports[container_port]
    return {"kind": "http" if "httpGet" in probe else "tcp", "port": local, "path": action.get("path", "/")}


def passes(readiness: Readiness) -> bool:
    """One readiness probe: HTTP 200-399, or a TCP connection, as the kubelet counts it."""
    if readiness["kind"] == "none":
        return True
    path = readiness["path"] if readiness["kind"] == "http" else None
    return answers("127.0.0.1", readiness["port"], path=path, timeout_s=PROBE_TIMEOUT_S)


def answers(host: str, port: int, *, path: str | None, timeout_s: float) -> bool:
    """Whether `host:port` answers as a kubelet's probe counts it: an HTTP GET of `path` with 200-399,
    or, with no `path`, a TCP connection that opens."""
    if path is None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            return False
    # No proxy: one from the environment would not reach a loopback address.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{host}:{port}{path}", timeout=timeout_s) as response:
            status: int = response.status
            return 200 <= status < 400
    except urllib.error.HTTPError as e:
        e.close()
        return False
    except OSError:
        return False
