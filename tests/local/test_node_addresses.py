"""Node addresses: one sticky loopback address per pod in the node's block; Service names resolved to them."""

from __future__ import annotations

import json
from typing import Any

from helpers.local.node import addresses, serviceproxy


def _pod(name: str, labels: dict[str, str], *, ready: bool = True, port: int = 2222) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _service(name: str, selector: dict[str, str], *, headless: bool, port: int, target: int | str) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": selector, "ports": [{"port": port, "targetPort": target}]}
    if headless:
        spec["clusterIP"] = "None"
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def test_addresses_are_sticky_per_pod_name_and_never_the_node() -> None:
    pool = addresses.Addresses()
    first = pool.assign("ns", "job-worker-0")
    second = pool.assign("ns", "job-worker-1")
    assert first == "127.0.0.2" and second == "127.0.0.3"
    assert pool.assign("ns", "job-worker-0") == first  # a recreated pod keeps its address
    assert addresses.NODE_ADDRESS not in pool.known().values()


def test_each_node_hands_out_addresses_from_its_own_block() -> None:
    """Two nodes on one machine (two test sessions) must not both give a pod 127.0.0.2:2222."""
    blocks = {addresses.block_for(f"/tmp/pytest-{n}/e2e0/node") for n in range(20)}
    assert len(blocks) > 10 and all(block % 2 == 0 and 0 <= block <= 252 for block in blocks)
    block = addresses.block_for("/tmp/a/node")
    assert addresses.Addresses(block=block).assign("ns", "p") == f"127.{block}.0.2"
    proxy = serviceproxy.ServiceProxy(block=block)
    proxy.sync([_service("svc", {"app": "x"}, headless=False, port=80, target=8080)], [], {})
    assert proxy.address("ns", "svc") == f"127.{block + 1}.0.1"


def test_tf_config_names_resolve_to_each_replicas_pod_address() -> None:
    pool = addresses.Addresses()
    pods = [_pod(f"job-{r}", {"replica": r}) for r in ("chief-0", "ps-0", "worker-0")]
    for pod in pods:
        pool.assign("ns", pod["metadata"]["name"])
    services = [
        _service(f"job-{r}", {"replica": r}, headless=True, port=2222, target=2222) for r in ("chief-0", "ps-0")
    ]
    resolver = addresses.Resolver(namespace="ns", services=services, pods=pods, addresses=pool.known())
    config = {"cluster": {"chief": ["job-chief-0.ns.svc:2222"], "ps": ["job-ps-0.ns.svc:2222"],
                          "worker": ["job-worker-0.ns.svc:2222"]}}  # fmt: skip
    rewritten = json.loads(resolver.rewrite(json.dumps(config)))
    assert rewritten["cluster"]["chief"] == ["127.0.0.2:2222"]
    assert rewritten["cluster"]["ps"] == ["127.0.0.3:2222"]
    # worker-0 has no Service yet: left as is and reported, so the node waits for it.
    assert rewritten["cluster"]["worker"] == ["job-worker-0.ns.svc:2222"]
    assert resolver.unresolved == {"job-worker-0.ns.svc"}


def test_cluster_ip_service_port_becomes_the_ready_pods_target_port() -> None:
    pool = addresses.Addresses()
    pods = [_pod("old", {"app": "s"}, ready=False, port=8501), _pod("new", {"app": "s"}, port=8501)]
    for pod in pods:
        pool.assign("ns", pod["metadata"]["name"])
    services = [_service("serving", {"app": "s"}, headless=False, port=80, target="http")]
    resolver = addresses.Resolver(namespace="ns", services=services, pods=pods, addresses=pool.known())
    assert resolver.rewrite("http://serving.ns.svc.cluster.local/v1") == "http://127.0.0.3:8501/v1"
    assert resolver.rewrite("serving") == "127.0.0.3:8501"
    assert resolver.rewrite("--model_name=servingish") == "--model_name=servingish"
    assert resolver.rewrite("http://serving:9999/") == "http://serving:9999/"  # no such Service port
