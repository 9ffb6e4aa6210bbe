"""The node agent on a real API server and controller manager: real pods, real children, real logs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes.client import rest as k8s_rest

from helpers.local.node import agent

NAMESPACE = "node-agent-test"
# Long enough for a Python child to start on a busy 2-core machine, short enough to fail fast.
WAIT_S = 60.0

# A server on every interface of port 8080 (as in a pod), answering its own pod IP.
SERVER = (
    "import http.server, os\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = os.environ['POD_IP'].encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "print('serving', flush=True)\n"
    "http.server.HTTPServer(('0.0.0.0', 8080), H).serve_forever()\n"
)


def _wait(what: str, check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def core(admin_api: k8s_client.ApiClient, node: agent.NodeAgent) -> k8s_client.CoreV1Api:
    api = k8s_client.CoreV1Api(admin_api)
    try:
        api.create_namespace({"metadata": {"name": NAMESPACE}})
    except k8s_rest.ApiException as e:
        if e.status != 409:
            raise
    _wait("the default ServiceAccount", lambda: api.list_namespaced_service_account(NAMESPACE).items)
    return api


def _pod(
    name: str, command: str, *, labels: dict[str, str] | None = None, policy: str = "Never", **extra: Any
) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": "python:3.12",
        "command": ["python", "-c", command],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        **extra,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {}},
        "spec": {"restartPolicy": policy, "terminationGracePeriodSeconds": 5, "containers": [container]},
    }


def _phase(core: k8s_client.CoreV1Api, name: str) -> str:
    return str(core.read_namespaced_pod(name, NAMESPACE).status.phase)


def test_node_is_ready_and_untainted(core: k8s_client.CoreV1Api, node: agent.NodeAgent) -> None:
    found = core.read_node(node.config.name)
    assert {c.type: c.status for c in found.status.conditions}["Ready"] == "True"
    assert not found.spec.taints
    assert found.status.daemon_endpoints.kubelet_endpoint.port == node.log_server.port


def test_restart_on_failure_then_success_with_logs_through_the_api_server(core: k8s_client.CoreV1Api) -> None:
    # Fails the first time (no marker file yet), succeeds the second: restartCount 1, lastState exit 3.
    command = (
        "import os, pathlib, sys\n"
        "marker = pathlib.Path(os.environ['MARKER'])\n"
        "print('attempt', 'second' if marker.exists() else 'first', os.environ['POD_IP'], flush=True)\n"
        "sys.exit(0) if marker.exists() else (marker.touch(), sys.exit(3))\n"
    )
    marker = f"/tmp/node-agent-test-{time.time_ns()}"
    pod = _pod("flaky", command, policy="OnFailure", env=[
        {"name": "MARKER", "value": marker},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
    ])  # fmt: skip
    core.create_namespaced_pod(NAMESPACE, pod)
    _wait("flaky to succeed", lambda: _phase(core, "flaky") == "Succeeded")
    status = core.read_namespaced_pod("flaky", NAMESPACE).status
    container = status.container_statuses[0]
    assert container.restart_count == 1
    assert container.last_state.terminated.exit_code == 3
    assert container.state.terminated.reason == "Completed"
    assert status.pod_ip.startswith("127.") and status.host_ip == "127.0.0.1"
    log = core.read_namespaced_pod_log("flaky", NAMESPACE, _preload_content=False).data.decode()
    assert log == f"attempt second {status.pod_ip}\n"
    previous = core.read_namespaced_pod_log("flaky", NAMESPACE, previous=True, _preload_content=False).data.decode()
    assert previous == f"attempt first {status.pod_ip}\n"


def test_two_pods_serve_one_port_and_a_third_reaches_one_by_service_name(core: k8s_client.CoreV1Api) -> None:
    probe = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    for name in ("server-a", "server-b"):
        pod = _pod(name, SERVER, labels={"app": name}, policy="Always",
                   ports=[{"containerPort": 8080, "name": "http"}], readinessProbe=probe)  # fmt: skip
        core.create_namespaced_pod(NAMESPACE, pod)
        service = {
            "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]},
        }
        core.create_namespaced_service(NAMESPACE, service)

    def _ready(name: str) -> bool:
        conditions = core.read_namespaced_pod(name, NAMESPACE).status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    _wait("both servers ready", lambda: _ready("server-a") and _ready("server-b"))
    address_b = core.read_namespaced_pod("server-b", NAMESPACE).status.pod_ip
    client = "import urllib.request, sys; print(urllib.request.urlopen(sys.argv[1]).read().decode())"
    pod = _pod("client", client)
    pod["spec"]["containers"][0]["args"] = [f"http://server-b.{NAMESPACE}.svc.cluster.local/"]
    core.create_namespaced_pod(NAMESPACE, pod)
    _wait("the client to finish", lambda: _phase(core, "client") in ("Succeeded", "Failed"))
    log = core.read_namespaced_pod_log("client", NAMESPACE, _preload_content=False).data.decode()
    assert _phase(core, "client") == "Succeeded", log
    assert log.strip() == address_b


# Fetches http://<hostname>.<subdomain>:8080/ with a name it builds itself (JobSet's tasks build TF_CONFIG
# so), past anything the agent could rewrite: only the shim's getaddrinfo answers it.
NAMED_CLIENT = (
    "import time, urllib.request\n"
    "host = '.'.join(['task-0', 'tasks'])\n"
    "for attempt in range(100):\n"
    "    try:\n"
    "        print(urllib.request.urlopen(f'http://{host}:8080/', timeout=5).read().decode(), flush=True)\n"
    "        break\n"
    "    except OSError:\n"
    "        time.sleep(0.2)\n"
)


def test_a_name_built_inside_a_process_resolves_through_cluster_dns_inside_and_outside_pods(
    core: k8s_client.CoreV1Api, node: agent.NodeAgent
) -> None:
    """A pod with hostname and subdomain under a headless Service (JobSet's shape) is reached by
    `<hostname>.<subdomain>` from another pod (the search path's short form), and by its full name from a
    process on the host started with `outside_env`, as from a notebook server pod."""
    headless = {"metadata": {"name": "tasks"}, "spec": {"clusterIP": "None", "selector": {"app": "tasks"},
                "publishNotReadyAddresses": True, "ports": [{"port": 8080}]}}  # fmt: skip
    core.create_namespaced_service(NAMESPACE, headless)
    server = _pod("task-server", SERVER, labels={"app": "tasks"}, policy="Always", ports=[{"containerPort": 8080}])
    server["spec"].update(hostname="task-0", subdomain="tasks")
    core.create_namespaced_pod(NAMESPACE, server)
    _wait("the task server to run", lambda: _phase(core, "task-server") == "Running")
    address = core.read_namespaced_pod("task-server", NAMESPACE).status.pod_ip
    core.create_namespaced_pod(NAMESPACE, _pod("task-client", NAMED_CLIENT))
    _wait("the task client to finish", lambda: _phase(core, "task-client") in ("Succeeded", "Failed"))
    log = core.read_namespaced_pod_log("task-client", NAMESPACE, _preload_content=False).data.decode()
    assert log.strip() == address
    fetch = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
    url = f"http://task-0.tasks.{NAMESPACE}.svc.cluster.local:8080/"
    outside = subprocess.run(
        [sys.executable, "-c", fetch, url],
        env={**os.environ, **node.outside_env()},
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert outside.stdout.strip() == address, outside.stderr


def test_deletion_stops_the_process_with_the_grace_period(core: k8s_client.CoreV1Api, node: agent.NodeAgent) -> None:
    pod = _pod("sleeper", "import time\nprint('sleeping', flush=True)\ntime.sleep(600)", policy="Always")
    core.create_namespaced_pod(NAMESPACE, pod)
    _wait("sleeper to run", lambda: _phase(core, "sleeper") == "Running")
    uid = core.read_namespaced_pod("sleeper", NAMESPACE).metadata.uid
    pid = node.runners[uid].runs["main"].pid
    core.delete_namespaced_pod("sleeper", NAMESPACE, grace_period_seconds=3)

    def _gone() -> bool:
        try:
            core.read_namespaced_pod("sleeper", NAMESPACE)
        except k8s_rest.ApiException as e:
            return bool(e.status == 404)
        return False

    _wait("sleeper to be deleted", _gone)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_deployment_rolls_out_through_the_controller_manager(admin_api: k8s_client.ApiClient) -> None:
    apps = k8s_client.AppsV1Api(admin_api)
    template = _pod("unused", SERVER, labels={"app": "web"}, policy="Always", ports=[{"containerPort": 8080}],
                    readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1})  # fmt: skip
    deployment = {
        "metadata": {"name": "web", "namespace": NAMESPACE},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": template["spec"]},
        },
    }
    apps.create_namespaced_deployment(NAMESPACE, deployment)

    def _available() -> bool:
        status = apps.read_namespaced_deployment("web", NAMESPACE).status
        return bool(status.available_replicas == 2 and status.updated_replicas == 2)

    _wait("the Deployment to be available", _available)
