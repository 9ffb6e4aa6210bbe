"""Probes as the kubelet runs them, aimed at the pod's own address.

httpGet passes on HTTP 200-399, tcpSocket when a connection opens. exec probes would need a
command run inside the container's image, which this node does not have: they pass.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable

from helpers.local.node import podplan

Prober = Callable[["podplan.Probe", str], bool]


def probe(spec: podplan.Probe, pod_ip: str) -> bool:
    """One probe of `spec` against `pod_ip`; True when it passes."""
    if spec.kind == "exec":
        return True
    if spec.kind == "tcp":
        try:
            with socket.create_connection((pod_ip, spec.port), timeout=spec.timeout_s):
                return True
        except OSError:
            return False
    # No proxy: a proxy from the environment would not reach a pod's loopback address.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{pod_ip}:{spec.port}{spec.path}", timeout=spec.timeout_s) as response:
            status: int = response.status
            return 200 <= status < 400
    except urllib.error.HTTPError as e:
        e.close()
        return False
    except OSError:
        return False
