"""The Node object this agent registers: Ready, an InternalIP on loopback, capacity, the log endpoint.

The TaintNodesByCondition admission plugin puts `node.kubernetes.io/not-ready:NoSchedule` on a
new Node; no node lifecycle controller runs here to lift it, so the agent removes it once the
Node reports Ready. A heartbeat refreshes the Ready condition.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import Any

from helpers.local.node import addresses

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
# What the node says it can hold; a kubelet's default is 110 pods.
MAX_PODS = "110"
VERSION = "v1.37.2-kubeflow-mnist-node"


def _memory_bytes() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def capacity() -> dict[str, str]:
    """This machine's CPUs, memory and the pod limit, as Node capacity."""
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{_memory_bytes() // 2**10}Ki",
        "pods": MAX_PODS,
        "ephemeral-storage": "64Gi",
    }


def conditions(now: str, *, ready: bool = True) -> list[dict[str, Any]]:
    """The node conditions: Ready, and no memory, disk or PID pressure."""

    def _one(kind: str, status: bool, reason: str, message: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": "True" if status else "False",
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return [
        _one("MemoryPressure", False, "KubeletHasSufficientMemory", "local processes"),
        _one("DiskPressure", False, "KubeletHasNoDiskPressure", "local processes"),
        _one("PIDPressure", False, "KubeletHasSufficientPID", "local processes"),
        _one("Ready", ready, "KubeletReady", "the kubeflow-mnist node agent is running pods as local processes"),
    ]


def manifest(name: str, *, kubelet_port: int, now: str) -> dict[str, Any]:
    """The Node to create: labels, no taints, status with addresses, capacity and the log endpoint."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                    platform.machine(), platform.machine()
                ),
                "node.kubernetes.io/instance-type": "local",
            },
        },
        "spec": {},
        "status": status(name, kubelet_port=kubelet_port, now=now),
    }


def status(name: str, *, kubelet_port: int, now: str) -> dict[str, Any]:
    """The Node's status (written through nodes/status)."""
    resources = capacity()
    return {
        "capacity": resources,
        "allocatable": resources,
        "conditions": conditions(now),
        "addresses": [
            {"type": "InternalIP", "address": addresses.NODE_ADDRESS},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": platform.release(),
            "osImage": platform.platform(),
            "containerRuntimeVersion": "local-processes://1",
            "kubeletVersion": VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": platform.machine(),
        },
    }


def without_not_ready(taints: list[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """The node's taints minus the not-ready one the admission plugin added."""
    return [taint for taint in taints or [] if taint.get("key") != NOT_READY_TAINT]
