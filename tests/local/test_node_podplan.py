"""Planning a pod: the local executor's translation with the pod's own address, DNS and S3 kept."""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

from helpers import settings as settings_module
from helpers.local.node import addresses, podplan, shim

TF_CONFIG = {"cluster": {"chief": ["job-chief-0.ns.svc:2222"], "ps": ["job-ps-0.ns.svc:2222"]},
             "task": {"type": "chief", "index": 0}, "environment": "cloud"}  # fmt: skip


def _pod(name: str, replica: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"replica": replica}},
        "spec": {"containers": [container], **spec},
        "status": {"podIP": "127.0.0.2", "hostIP": "127.0.0.1"},
    }


def _context(
    settings: settings_module.Settings,
    tmp_path: pathlib.Path,
    pods: list[dict[str, Any]],
    shim: pathlib.Path | None = pathlib.Path("/shim.so"),
) -> podplan.PodContext:
    pool = addresses.Addresses()
    for pod in pods:
        pool.assign("ns", pod["metadata"]["name"])
    services = [
        {"metadata": {"name": f"job-{r}", "namespace": "ns"},
         "spec": {"clusterIP": "None", "selector": {"replica": r}, "ports": [{"port": 2222}]}}
        for r in ("chief-0", "ps-0")
    ]  # fmt: skip
    return podplan.PodContext(
        settings=settings,
        pod_ip="127.0.0.2",
        resolver=addresses.Resolver(namespace="ns", services=services, pods=pods, addresses=pool.known()),
        secrets=lambda namespace, name: {"AWS_ACCESS_KEY_ID": "testing"} if name == "aws-secret" else None,
        config_maps=lambda namespace, name: {"monitoring.config": "prometheus_config {}"} if name == "cfg" else None,
        node_allocatable={"cpu": "2"},
        pod_dir=tmp_path / "pod",
        shim=shim,
        hosts_file=tmp_path / "hosts",
        node_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"},
    )


def test_a_tfjob_replica_keeps_its_port_and_s3_and_resolves_peers_through_the_shim(
    settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    container = {
        "name": "tensorflow",
        "image": "123.dkr.ecr.us-west-2.amazonaws.com/kubeflow-mnist/train:abc",
        "command": ["python", "/app/model.py"],
        "args": ["--tf-model-dir=s3://bucket/runs/1", "--data-uri=s3://bucket/data/mnist.npz"],
        "ports": [{"name": "tfjob-port", "containerPort": 2222}],
        "env": [{"name": "TF_CONFIG", "value": json.dumps(TF_CONFIG)}],
        "envFrom": [{"secretRef": {"name": "aws-secret"}}],
    }
    pods = [_pod("job-chief-0", "chief-0", container), _pod("job-ps-0", "ps-0", container)]
    [plan] = podplan.plan(pods[0], _context(settings, tmp_path, pods))
    assert plan.process is not None and not plan.start_error
    assert plan.process.argv[:2] == [sys.executable, str(podplan.containers.REPO_ROOT / "model" / "model.py")]
    assert "--tf-model-dir=s3://bucket/runs/1" in plan.process.argv  # S3 stays S3 on a node
    env = plan.process.env
    assert json.loads(env["TF_CONFIG"]) == TF_CONFIG  # the names as written: the shim resolves them
    assert env["AWS_ACCESS_KEY_ID"] == "testing" and env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert env[shim.POD_IP_VARIABLE] == "127.0.0.2" and env["LD_PRELOAD"].startswith("/shim.so")
    assert env[shim.HOSTS_VARIABLE] == str(tmp_path / "hosts") and env["GRPC_DNS_RESOLVER"] == "native"
    assert env[shim.SEARCH_VARIABLE] == "ns.svc.cluster.local svc.cluster.local cluster.local"
    assert env["HOSTNAME"] == "job-chief-0"


def test_without_a_shim_names_in_env_are_rewritten_to_pod_addresses_and_unresolved_ones_noted(
    settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    container = {"name": "tensorflow", "image": "train:abc", "command": ["python", "/app/model.py"],
                 "env": [{"name": "TF_CONFIG", "value": json.dumps(TF_CONFIG)},
                         {"name": "PEER", "value": "job-worker-0.ns.svc:2222"}]}  # fmt: skip
    pods = [_pod("job-chief-0", "chief-0", container), _pod("job-ps-0", "ps-0", container)]
    context = _context(settings, tmp_path, pods, shim=None)
    [plan] = podplan.plan(pods[0], context)
    assert plan.process is not None
    env = plan.process.env
    assert json.loads(env["TF_CONFIG"])["cluster"] == {"chief": ["127.0.0.2:2222"], "ps": ["127.0.0.3:2222"]}
    assert shim.HOSTS_VARIABLE not in env and "LD_PRELOAD" not in env
    assert context.resolver.unresolved == {"job-worker-0.ns.svc"}


def test_with_the_shim_a_value_that_only_looks_like_a_service_name_is_left_alone(
    settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    """JOBSET_NAME is the JobSet's name, which is also its headless Service's: a rewrite would turn it into
    an address and model/tf_config.py would build its peers' names from that."""
    container = {"name": "node", "image": "train:abc", "command": ["python", "/app/model.py"],
                 "env": [{"name": "JOBSET_NAME", "value": "job-chief-0"}]}  # fmt: skip
    pods = [_pod("job-chief-0", "chief-0", container)]
    [plan] = podplan.plan(pods[0], _context(settings, tmp_path, pods))
    assert plan.process is not None and plan.process.env["JOBSET_NAME"] == "job-chief-0"


def test_servers_bind_the_pod_address_and_volumes_become_folders(
    settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    container = {
        "name": "ui",
        "image": "webui:1",
        "command": ["python", "-m", "webui"],
        "env": [{"name": "HOST", "value": "0.0.0.0"}],
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/monitoring"},
            {"name": "scratch", "mountPath": "/tmp/x"},
        ],
        "args": ["--config=/etc/monitoring/monitoring.config"],
    }
    volumes = [{"name": "config", "configMap": {"name": "cfg"}}, {"name": "scratch", "emptyDir": {}}]
    pod = _pod("ui-abc", "ui", container, volumes=volumes)
    [plan] = podplan.plan(pod, _context(settings, tmp_path, [pod]))
    assert plan.process is not None
    assert plan.process.env["HOST"] == "127.0.0.2"
    config = tmp_path / "pod" / "volumes" / "config" / "monitoring.config"
    assert config.read_text() == "prometheus_config {}"
    assert f"--config={config}" in plan.process.argv


def test_s3_sync_runs_the_stand_in_and_unknown_images_cannot_start(
    settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    sync = {
        "name": "s3-sync",
        "image": "amazon/aws-cli:2",
        "restartPolicy": "Always",
        "command": ["sh", "-c"],
        "args": ['aws s3 sync ... && [ -f "$$1/_COMPLETE" ]'],
        "env": [{"name": "SOURCE", "value": "s3://bucket/models/mnist"}],
        "volumeMounts": [{"name": "models", "mountPath": "/models/mnist"}],
    }
    kaniko = {"name": "kaniko", "image": "gcr.io/kaniko-project/executor", "args": ["--context=s3://b/c.tgz"]}
    pod = _pod("serving", "s", kaniko, initContainers=[sync], volumes=[{"name": "models", "emptyDir": {}}])
    sidecar, main = podplan.plan(pod, _context(settings, tmp_path, [pod]))
    assert sidecar.kind == "sidecar" and sidecar.process is not None
    assert sidecar.process.argv[1:4] == ["-m", "helpers.local.node.s3sync", "s3://bucket/models/mnist"]
    assert sidecar.process.argv[4] == str(tmp_path / "pod" / "volumes" / "models")
    assert main.process is None and "no known entrypoint" in main.start_error
    # TensorBoard's sidecar is a plain `aws s3 sync` loop (no completion marker): the stand-in mirrors.
    logs = {**sync, "args": ['while true; do aws s3 sync "$$SOURCE" /logs; sleep 30; done']}
    pod = _pod("tensorboard", "t", kaniko, initContainers=[logs], volumes=[{"name": "models", "emptyDir": {}}])
    sidecar, _ = podplan.plan(pod, _context(settings, tmp_path, [pod]))
    assert sidecar.process is not None and sidecar.process.argv[3:5] == ["--mirror", "s3://bucket/models/mnist"]
