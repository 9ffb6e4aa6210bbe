"""manifests/serving.yaml: valid Kubernetes, args the local server accepts unchanged, and a sync sidecar
that promotes only complete versions (its real shell script, run with `aws` and `sleep` stand-ins)."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess

import pytest

from helpers import manifests, workloads
from helpers.aws import s3
from helpers.serving import batching, metrics, server
from tests import validation

VALUES = {
    "namespace": "kubeflow-user-example-com",
    "app_name": "mnist",
    "bucket": "example-bucket",
    "model_name": "mnist",
    "region": "us-west-2",
    "service_account": "default-editor",
    "model_server_image": workloads.MODEL_SERVER_IMAGE,
}


@pytest.fixture(scope="module")
def resources() -> list[dict]:
    return manifests.render("serving", VALUES, app_name="mnist")


def test_every_resource_is_valid_kubernetes(resources) -> None:
    assert sorted(resource["kind"] for resource in resources) == ["ConfigMap", "Deployment", "Service"]
    validation.validate_all(resources)


def test_the_server_container_runs_tensorflow_model_server_with_flags_the_local_server_takes(resources) -> None:
    pod = manifests.find(resources, "Deployment", "mnist-serving")["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "tensorflow-serving")
    assert container["image"].startswith("tensorflow/serving:2.")
    assert container["command"] == ["tensorflow_model_server"]
    args = server.parse_args(container["args"])
    assert (args.port, args.rest_api_port, args.model_name) == (8500, 8501, "mnist")
    assert args.model_base_path == "/models/mnist"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/v1/models/mnist", "port": 8501}
    assert pod["securityContext"]["runAsNonRoot"] is True
    # The local backend recognises the copier by its name and the s3:// URI in its env.
    (sync,) = pod["initContainers"]
    assert (sync["name"], sync["restartPolicy"]) == ("s3-sync", "Always")
    assert {"name": "SOURCE", "value": "s3://example-bucket/models/mnist"} in sync["env"]
    assert "mv " in sync["args"][0] and "sleep 30" in sync["args"][0]
    mounts = {mount["name"]: mount["mountPath"] for mount in [*sync["volumeMounts"], *container["volumeMounts"]]}
    assert mounts["models"] == args.model_base_path


def test_batching_is_on_with_parameters_the_server_reads_and_room_for_05s_request(resources) -> None:
    pod = manifests.find(resources, "Deployment", "mnist-serving")["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "tensorflow-serving")
    args = server.parse_args(container["args"])
    assert args.enable_batching
    folder, _, key = args.batching_parameters_file.rpartition("/")
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == folder)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    config_map = manifests.find(resources, "ConfigMap", volume["configMap"]["name"])
    parameters = batching.parse_batching_parameters(config_map["data"][key])
    # A request with more rows than max_batch_size is refused: 05 sends 1,000 test digits at once.
    assert parameters.max_batch_size >= 1000
    assert parameters.batch_timeout_micros == 0


def test_the_monitoring_config_and_service_agree(resources) -> None:
    config = manifests.find(resources, "ConfigMap", "mnist-serving-config")["data"]["monitoring.config"]
    parsed = metrics.parse_monitoring_config(config)
    assert parsed.enable
    service = manifests.find(resources, "Service", "mnist-serving")
    assert sorted(port["port"] for port in service["spec"]["ports"]) == [8500, 8501]
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8501"
    assert annotations["prometheus.io/path"] == parsed.path


# A stand-in for `aws s3 sync SOURCE DEST`: copies the folder that stands for the bucket prefix. Like the real
# sync, it may leave what it copied so far when it fails.
FAKE_AWS = """#!/bin/sh
[ "$1 $2" = "s3 sync" ] || exit 64
cp -R "$FAKE_S3_PREFIX/." "$5"
"""
# Ends the sidecar's endless loop at its first `sleep`: one round per run.
FAKE_SLEEP = """#!/bin/sh
kill -TERM "$PPID"
"""


def _run_sidecar_round(sync: dict, *, bucket_prefix: pathlib.Path, volume: pathlib.Path, bin_dir: pathlib.Path) -> str:
    """One round of the sync sidecar's shell script with its env, `aws` and `sleep` replaced; returns its output."""
    for name, text in (("aws", FAKE_AWS), ("sleep", FAKE_SLEEP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    environment = {
        **os.environ,
        **{variable["name"]: variable["value"] for variable in sync["env"]},
        "HOME": str(bin_dir),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_S3_PREFIX": str(bucket_prefix),
    }
    finished = subprocess.run(
        [*sync["command"], sync["args"][0].replace("/models/mnist", str(volume))],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == -signal.SIGTERM or finished.returncode == 128 + signal.SIGTERM, finished.stderr
    return finished.stdout


def _version(folder: pathlib.Path, *, complete: bool) -> None:
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "variables.index").write_bytes(b"index")
    if complete:
        s3.write_marker(folder)


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_the_sync_sidecar_promotes_only_complete_versions(resources, tmp_path: pathlib.Path) -> None:
    pod = manifests.find(resources, "Deployment", "mnist-serving")["spec"]["template"]["spec"]
    (sync,) = pod["initContainers"]
    bucket_prefix, volume, bin_dir = tmp_path / "s3", tmp_path / "volume", tmp_path / "bin"
    for folder in (bucket_prefix, volume, bin_dir):
        folder.mkdir()
    _version(bucket_prefix / "1", complete=True)
    _version(bucket_prefix / "2", complete=False)  # an upload stopped before its marker
    (bucket_prefix / "metrics.json").write_text("{}")

    output = _run_sidecar_round(sync, bucket_prefix=bucket_prefix, volume=volume, bin_dir=bin_dir)
    assert output.split() == ["new", "model", "version", "1"]
    assert sorted(path.name for path in volume.iterdir() if not path.name.startswith(".")) == ["1"]

    # A marker that lists a file the sync has not brought yet is not enough either.
    (bucket_prefix / "2" / s3.COMPLETE_MARKER).write_text("saved_model.pb\nvariables/variables.data-00000-of-00001\n")
    _run_sidecar_round(sync, bucket_prefix=bucket_prefix, volume=volume, bin_dir=bin_dir)
    assert not (volume / "2").exists()

    s3.write_marker(bucket_prefix / "2")  # the upload finished: marker last
    output = _run_sidecar_round(sync, bucket_prefix=bucket_prefix, volume=volume, bin_dir=bin_dir)
    assert output.split() == ["new", "model", "version", "2"]
    assert s3.is_complete(volume / "2") and (volume / "1" / "saved_model.pb").read_bytes() == b"graph"
    assert not list(volume.glob(".*.partial"))


def test_every_sync_sidecar_pins_the_same_public_ecr_aws_cli_and_sets_home() -> None:
    values = {**VALUES, "logdir_key": "runs/x", "tensorboard_image": workloads.TENSORBOARD_IMAGE}
    containers = []
    for name in ("serving", "tensorboard"):
        for resource in manifests.render(name, values, app_name="mnist"):
            if resource["kind"] == "Deployment":
                pod = resource["spec"]["template"]["spec"]
                containers += [
                    c for c in [*pod.get("initContainers", []), *pod["containers"]] if c["name"] == "s3-sync"
                ]
    assert len(containers) == 2
    assert {container["image"] for container in containers} == {"public.ecr.aws/aws-cli/aws-cli:2.31.23"}
    for container in containers:
        assert {"name": "HOME", "value": "/tmp"} in container["env"]
