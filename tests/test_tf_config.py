"""model/tf_config.py: TF_CONFIG from JobSet's names, in the v1 operator's shape, for a TrainJob's pods."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from helpers.local import tfjob

REPO = pathlib.Path(__file__).resolve().parent.parent
TF_CONFIG_PY = REPO / "model" / "tf_config.py"
# Seconds for a replica to import TensorFlow and start its server on a loaded 2-core machine.
SERVER_START_S = 120


def _import() -> Any:
    spec = importlib.util.spec_from_file_location("tf_config", TF_CONFIG_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tf_config = _import()


def pod_env(role: str, index: int, *, workers: int = 2, ps: int = 1) -> dict[str, str]:
    """The env a pod of TrainJob `mnist-train` gets from the runtime, the TrainJob and the Job controller."""
    return {
        "JOBSET_NAME": "mnist-train",
        "JOBSET_REPLICATED_JOB": role,
        "JOB_COMPLETION_INDEX": str(index),
        "POD_NAMESPACE": "ns",
        "TF_NUM_PS": str(ps),
        "TF_NUM_WORKERS": str(workers),
        "TF_PORT": "2222",
    }


@pytest.mark.parametrize(("role", "index"), [("chief", 0), ("ps", 0), ("worker", 0), ("worker", 2)])
def test_same_shape_as_the_operators_with_jobset_hostnames(role: str, index: int) -> None:
    built = tf_config.from_jobset(pod_env(role, index, workers=3))
    hosts = {
        kind: [f"mnist-train-{kind}-0-{i}.mnist-train.ns.svc:2222" for i in range(count)]
        for kind, count in (("chief", 1), ("ps", 1), ("worker", 3))
    }
    operator = tfjob.tf_config(
        job_name="mnist-train",
        namespace="ns",
        replicas={"Chief": 1, "PS": 1, "Worker": 3},
        task_type=role,
        task_index=index,
        addresses=hosts,
    )
    assert built == operator
    assert json.dumps(built) == json.dumps(operator), "same keys in the same order"
    assert built["task"] == {"type": role, "index": index} and built["environment"] == "cloud"


def test_a_named_subdomain_and_port_are_used() -> None:
    built = tf_config.from_jobset({**pod_env("ps", 1, ps=2), "JOBSET_SUBDOMAIN": "tf", "TF_PORT": "3333"})
    assert built["cluster"]["ps"] == ["mnist-train-ps-0-0.tf.ns.svc:3333", "mnist-train-ps-0-1.tf.ns.svc:3333"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"JOBSET_REPLICATED_JOB": "evaluator"}, "replicated jobs"),
        ({"JOB_COMPLETION_INDEX": "2"}, "worker has 2 task"),
        ({"TF_NUM_WORKERS": "0"}, "TF_NUM_WORKERS"),
        ({"TF_NUM_PS": "one"}, "TF_NUM_PS"),
    ],
)
def test_impossible_env_is_refused(change: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tf_config.from_jobset({**pod_env("worker", 1), **change})


def test_export_keeps_an_existing_tf_config_and_ignores_other_pods() -> None:
    environ = {**pod_env("worker", 1), "TF_CONFIG": '{"task": {"type": "chief"}}'}
    assert tf_config.export(environ) is False and environ["TF_CONFIG"] == '{"task": {"type": "chief"}}'
    assert tf_config.export({"HOME": "/home/trainer"}) is False
    environ = pod_env("worker", 1)
    assert tf_config.export(environ) is True
    assert json.loads(environ["TF_CONFIG"])["task"] == {"type": "worker", "index": 1}


def test_the_script_prints_what_a_pod_gets() -> None:
    env = {**os.environ, **pod_env("chief", 0)}
    env.pop("TF_CONFIG", None)
    shown = subprocess.run([sys.executable, str(TF_CONFIG_PY)], env=env, capture_output=True, text=True, check=True)
    assert json.loads(shown.stdout)["cluster"]["chief"] == ["mnist-train-chief-0-0.mnist-train.ns.svc:2222"]


def test_model_py_builds_its_tf_config_in_a_jobset_pod(tmp_path: pathlib.Path) -> None:
    """model.py in a TrainJob's ps pod (JobSet's env, no TF_CONFIG) takes its role and cluster from tf_config.py."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, **pod_env("ps", 0, workers=1), "TF_PORT": str(port), "PYTHONPATH": str(REPO)}
    env.pop("TF_CONFIG", None)
    log = tmp_path / "ps-0.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "model" / "model.py"), "--tf-train-steps=1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while "serving as ps 0" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        text = log.read_text()
        assert "serving as ps 0" in text, text[-2000:]
        assert f"'ps': ['mnist-train-ps-0-0.mnist-train.ns.svc:{port}']" in text
        assert f"'chief': ['mnist-train-chief-0-0.mnist-train.ns.svc:{port}']" in text
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
