"""Cluster DNS on the node: the names the hosts file holds, and the shim answering getaddrinfo from it.

The records are checked on Service and pod objects shaped as the API server returns them; the shim in
real child processes (Python's socket.getaddrinfo is libc's, which the shim overrides).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest

from helpers.local.node import agent, clusterdns, shim

NS = "ns"
# Resolves each argument with the real getaddrinfo path and prints {name: [addresses] or error}.
RESOLVE = """
import json, socket, sys
answers = {}
for name in sys.argv[1:]:
    try:
        answers[name] = sorted({info[4][0] for info in socket.getaddrinfo(name, 2222, type=socket.SOCK_STREAM)})
    except socket.gaierror as e:
        answers[name] = e.errno
print(json.dumps(answers))
"""


def _pod(name: str, labels: dict[str, str], *, ready: bool, **spec: Any) -> dict[str, Any]:
    status = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    return {"metadata": {"namespace": NS, "name": name, "labels": labels}, "spec": spec, "status": status}


def _service(name: str, selector: dict[str, str], *, headless: bool, **spec: Any) -> dict[str, Any]:
    body = {"selector": selector, "ports": [{"port": 2222}], **spec}
    if headless:
        body["clusterIP"] = "None"
    return {"metadata": {"namespace": NS, "name": name}, "spec": body}


# A JobSet's headless Service (publishing not-ready pods) and two of its pods, a ClusterIP Service, and
# a headless Service without publishNotReadyAddresses whose one pod is not ready.
JOBSET = {"jobset.sigs.k8s.io/jobset-name": "train"}
SERVICES = [
    _service("train", JOBSET, headless=True, publishNotReadyAddresses=True),
    _service("serving", {"app": "serving"}, headless=False),
    _service("strict", {"app": "strict"}, headless=True),
]
PODS = [
    _pod("train-chief-0-0-abcde", JOBSET, ready=False, hostname="train-chief-0-0", subdomain="train"),
    _pod("train-worker-0-1-fghij", JOBSET, ready=True, hostname="train-worker-0-1", subdomain="train"),
    _pod("serving-1", {"app": "serving"}, ready=True),
    _pod("strict-1", {"app": "strict"}, ready=False),
]
ADDRESSES = {
    (NS, "train-chief-0-0-abcde"): "127.0.0.2",
    (NS, "train-worker-0-1-fghij"): "127.0.0.3",
    (NS, "serving-1"): "127.0.0.4",
    (NS, "strict-1"): "127.0.0.5",
}
VIRTUAL_IPS = {(NS, "serving"): "127.1.0.1"}


def test_records_follow_the_kubernetes_dns_spec() -> None:
    found = clusterdns.records(services=SERVICES, pods=PODS, pod_addresses=ADDRESSES, virtual_ips=VIRTUAL_IPS)
    assert found == {
        "train.ns.svc.cluster.local": ["127.0.0.2", "127.0.0.3"],
        "train-chief-0-0.train.ns.svc.cluster.local": ["127.0.0.2"],
        "train-worker-0-1.train.ns.svc.cluster.local": ["127.0.0.3"],
        "serving.ns.svc.cluster.local": ["127.1.0.1"],
    }


def test_the_hosts_file_is_rewritten_only_when_the_records_change(tmp_path: pathlib.Path) -> None:
    hosts = clusterdns.HostsFile(tmp_path / "node" / "hosts")
    hosts.write({"b.ns.svc.cluster.local": ["127.0.0.3"], "a.ns.svc.cluster.local": ["127.0.0.2", "127.0.0.4"]})
    text = hosts.path.read_text()
    assert text == (
        "127.0.0.2 a.ns.svc.cluster.local\n127.0.0.4 a.ns.svc.cluster.local\n127.0.0.3 b.ns.svc.cluster.local\n"
    )
    before = hosts.path.stat().st_mtime_ns, hosts.path.stat().st_ino
    hosts.write({"a.ns.svc.cluster.local": ["127.0.0.2", "127.0.0.4"], "b.ns.svc.cluster.local": ["127.0.0.3"]})
    assert (hosts.path.stat().st_mtime_ns, hosts.path.stat().st_ino) == before
    assert [p.name for p in hosts.path.parent.iterdir()] == ["hosts"]  # no temporary file left behind


def _resolve(env: dict[str, str], *names: str) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, "-c", RESOLVE, *names], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    answers: dict[str, Any] = json.loads(child.stdout)
    return answers


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    built = shim.build(tmp_path_factory.mktemp("shim"))
    if built is None:
        pytest.skip("no C compiler on this machine")
    return built


def test_a_pod_resolves_jobset_hostnames_and_services_through_its_search_path(
    library: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    hosts = clusterdns.HostsFile(tmp_path / "hosts")
    hosts.write(clusterdns.records(services=SERVICES, pods=PODS, pod_addresses=ADDRESSES, virtual_ips=VIRTUAL_IPS))
    env = shim.environment(library, hosts_file=hosts.path, search=clusterdns.search_path(NS), pod_ip="127.0.0.3")
    answers = _resolve(
        env,
        "train-chief-0-0.train.ns.svc",  # what model/tf_config.py writes into TF_CONFIG
        "train-chief-0-0.train.ns.svc.cluster.local.",
        "train-worker-0-1.train",
        "serving",
        "serving.ns",
        "TRAIN.ns.svc.cluster.local",
        "strict.ns.svc.cluster.local",  # a headless Service with no ready pod: no answer
        "localhost",  # not a cluster name: the real resolver's answer
    )
    assert answers["train-chief-0-0.train.ns.svc"] == ["127.0.0.2"]
    assert answers["train-chief-0-0.train.ns.svc.cluster.local."] == ["127.0.0.2"]
    assert answers["train-worker-0-1.train"] == ["127.0.0.3"]
    assert answers["serving"] == answers["serving.ns"] == ["127.1.0.1"]
    assert answers["TRAIN.ns.svc.cluster.local"] == ["127.0.0.2", "127.0.0.3"]
    assert isinstance(answers["strict.ns.svc.cluster.local"], int)
    assert "127.0.0.1" in answers["localhost"]


def test_outside_env_resolves_service_names_and_leaves_binds_alone(
    library: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    node = agent.NodeAgent(api_client=None, config=agent.NodeConfig(state_dir=tmp_path), shim=library)
    node.log_server.start()  # bound when the agent is made; started so that shutdown can close it
    try:
        _check_outside_env(node)
    finally:
        node.shutdown()


def _check_outside_env(node: agent.NodeAgent) -> None:
    node.hosts.write(clusterdns.records(services=SERVICES, pods=PODS, pod_addresses=ADDRESSES, virtual_ips=VIRTUAL_IPS))
    env = node.outside_env()
    assert shim.POD_IP_VARIABLE not in env and env["GRPC_DNS_RESOLVER"] == "native"
    assert env["LD_PRELOAD"].split()[0] == str(node.shim)
    answers = _resolve(env, "serving.ns.svc.cluster.local", "serving.ns.svc", "serving")
    assert answers["serving.ns.svc.cluster.local"] == answers["serving.ns.svc"] == ["127.1.0.1"]
    assert isinstance(answers["serving"], int)  # a short name needs the namespace's search domain
    assert _resolve(node.outside_env(NS), "serving")["serving"] == ["127.1.0.1"]
    bound = subprocess.run(
        [sys.executable, "-c", "import socket; s = socket.create_server(('0.0.0.0', 0)); print(s.getsockname()[0])"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert bound.stdout.strip() == "0.0.0.0"
