"""Probes as the kubelet runs them, aimed at the pod's own address.

httpGet passes on HTTP 200-399, tcpSocket when a connection opens. exec probes would need a
command run inside the container's image, which this node does not have: they pass.
"""

from __future__ import annotations

from collections.abc import Callable

from helpers.local import probes
from helpers.local.node import podplan

Prober = Callable[["podplan.Probe", str], bool]


def probe(spec: podplan.Probe, pod_ip: str) -> bool:
    """One probe of `spec` against `pod_ip`; True when it passes."""
    if spec.kind == "exec":
        return True
    path = None if spec.kind == "tcp" else spec.path
    return probes.answers(pod_ip, spec.port, path=path, timeout_s=spec.timeout_s)
