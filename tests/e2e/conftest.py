"""Fixtures for the control plane tier: a real API server and controller manager, and the node agent.

These tests build (once, minutes when cold) and start real Kubernetes binaries and train for real:
they are a tier of their own (`make e2e`, which CI runs after `make test`; `make test` leaves this
folder out rather than skipping it).
"""

from __future__ import annotations

import os
import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from kubernetes import client as k8s_client, config as k8s_config

from helpers import settings as settings_module, workloads
from helpers.local import ports
from helpers.local.node import agent

NAMESPACE = "kubeflow-user-example-com"
BUCKET = "mnist-e2e"
# Seconds a TFJob may take with fast parameters on a busy 2-core machine (one takes about a minute).
WAIT_S = 420.0
# The training image's name: the node runs model/model.py whatever the tag (no image is pulled here).
IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/kubeflow-mnist/train:e2e"
# The fast parameters every tier runs with; FAST is notebook 03's share of them, with the notebook's
# learning rate (the file leaves it at its default).
FAST_PARAMETERS = pathlib.Path(__file__).resolve().parents[1] / "fast-params.yaml"
_TRAINING = workloads.TrainingParameters.__required_keys__ | workloads.TrainingParameters.__optional_keys__
FAST = {
    **{key: value for key, value in yaml.safe_load(FAST_PARAMETERS.read_text()).items() if key in _TRAINING},
    "learning_rate": 0.003,
}
# Seconds for the node agent to register (it makes a certificate and compiles its bind shim first).
REGISTER_TIMEOUT_S = 60.0
# Keys moto accepts; AWS_ENDPOINT_URL (set by the fixture) keeps every call on loopback.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-west-2",
}


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The session's state folder: the control plane, the node and the series' state live under it."""
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def control_plane(e2e_dir: pathlib.Path) -> Iterator[Any]:
    """A running control plane (etcd, kube-apiserver, kube-controller-manager) for the session."""
    from controlplane import cluster, profile

    # The CRDs go in before the controller manager starts, so its garbage collector knows them at once.
    running = cluster.up(state_dir=e2e_dir, before_controllers=profile.ensure_crds)
    yield running
    cluster.down(state_dir=e2e_dir)


@pytest.fixture(scope="session")
def training_operator(control_plane: Any, e2e_dir: pathlib.Path) -> Iterator[Any]:
    """The real training operator (v1.9.x, TFJob), its webhook registered, and the profile namespace."""
    from controlplane import profile, training_operator as operator_module

    profile.ensure(control_plane)
    operator = operator_module.start(control_plane, state_dir=e2e_dir)
    yield operator
    operator.stop()


@pytest.fixture(scope="session")
def admin_api(control_plane: Any) -> k8s_client.ApiClient:
    """A `kubernetes` client logged in as system:masters (fixtures only; the notebooks never use it)."""
    return k8s_config.new_client_from_config(config_file=str(control_plane.admin_kubeconfig))


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """A moto server (S3, ECR, IAM, STS) on loopback that the notebook side and the pods both use.

    The session's environment points boto3 at it (AWS_ENDPOINT_URL) with fake keys; the node gives
    every container the same endpoint, so what a notebook uploads is what the replicas read.
    """
    try:
        from moto import server
    except ImportError as e:  # moto's server needs its [server] extra (flask-cors)
        pytest.fail(f"the moto server cannot start ({e}): install moto[server] into the environment")

    motoserver = server.ThreadedMotoServer(ip_address="127.0.0.1", port=ports.free_port(), verbose=False)
    motoserver.start()
    host, port = motoserver.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = {name: os.environ.get(name) for name in FAKE_AWS}
    os.environ.update({**FAKE_AWS, "AWS_ENDPOINT_URL": url})
    yield url
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    motoserver.stop()


@pytest.fixture(scope="session")
def node(
    control_plane: Any, admin_api: k8s_client.ApiClient, e2e_dir: pathlib.Path, aws_endpoint: str
) -> Iterator[agent.NodeAgent]:
    """The node agent, running in a thread for the session; every pod it ran is stopped afterwards."""
    node_env = {"AWS_ENDPOINT_URL": aws_endpoint}
    config = agent.NodeConfig(state_dir=e2e_dir / "node", node_env=node_env, poll_interval_s=0.3)
    running = agent.NodeAgent(api_client=admin_api, config=config)
    stop = threading.Event()
    thread = threading.Thread(target=running.run, args=(stop,), name="node-agent", daemon=True)
    thread.start()
    core = k8s_client.CoreV1Api(admin_api)
    deadline = time.monotonic() + REGISTER_TIMEOUT_S
    while not any(n.metadata.name == config.name for n in core.list_node().items):
        assert time.monotonic() < deadline, "the node agent did not register its Node"
        time.sleep(0.2)
    yield running
    stop.set()
    thread.join(60)


@pytest.fixture
def editor_settings(
    control_plane: Any,
    training_operator: Any,
    node: agent.NodeAgent,
    admin_api: k8s_client.ApiClient,
    e2e_dir: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> settings_module.Settings:
    """The notebook's settings on the kubeflow backend, logged in as default-editor, with a bucket and aws-secret."""
    kubeconfig = control_plane.kubeconfig_for(namespace=NAMESPACE, service_account="default-editor")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    s3 = boto3.client("s3", region_name="us-west-2")
    if BUCKET not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    return settings_module.load(
        backend="kubeflow",
        state_dir=str(e2e_dir / "series"),
        namespace=NAMESPACE,
        region="us-west-2",
        bucket=BUCKET,
        training_api="tfjob",
        # Bounded so that a stuck job fails the test and the fixtures still stop every process.
        wait_timeout_s=WAIT_S,
    )


@pytest.fixture(scope="session")
def trainer(control_plane: Any, training_operator: Any) -> Iterator[dict[str, float]]:
    """The real JobSet (v0.12) and Trainer v2 (v2.3) controllers, webhooks on loopback, for the session,
    with the `tensorflow-ps` ClusterTrainingRuntime installed as an administrator does (`kubectl apply` of
    what `workloads.training_runtime` reads). Yields the seconds each took to become ready."""
    from controlplane import trainer as trainer_module

    timings = trainer_module.up(control_plane)
    runtime = workloads.training_runtime(settings=settings_module.Settings(backend="kubeflow"))
    path = f"/apis/trainer.kubeflow.org/v1alpha1/clustertrainingruntimes/{runtime['metadata']['name']}"
    control_plane.request(
        "PATCH", f"{path}?fieldManager=e2e-administrator&force=true", body=runtime, content_type=trainer_module.APPLY
    )
    yield timings
    trainer_module.down(control_plane)


@pytest.fixture
def trainjob_settings(trainer: dict[str, float], editor_settings: settings_module.Settings) -> settings_module.Settings:
    """The notebook's settings as default-editor, training through a TrainJob (Trainer v2) instead of a TFJob."""
    return editor_settings.model_copy(update={"training_api": "trainjob"})
