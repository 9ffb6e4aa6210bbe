"""deployments: detached servers from Deployment manifests, readiness, replace, delete and clean-up."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import urllib.request
from typing import Any

import pytest

from helpers import errors, manifests, settings as settings_module, workloads
from helpers.local import deployments, pids, services

from . import synthetic

# A file server on loopback, as a Deployment's container would run it (through the `python` mapping).
HTTP_SERVER = ["-m", "http.server", "--bind", "127.0.0.1", "8000"]


def resources(
    args: list[str], *, probe: dict[str, Any] | None = None, extra: list[dict[str, Any]] | None = None, **pod: Any
) -> list[dict[str, Any]]:
    """A Deployment + Service + VirtualService named `web` whose container runs python `args`."""
    container: dict[str, Any] = {
        "name": "web",
        "image": "python:3.11-slim",
        "command": ["python"],
        "args": args,
        "ports": [{"name": "http", "containerPort": 8000}],
        "readinessProbe": probe if probe is not None else {"httpGet": {"path": "/", "port": "http"}},
        **pod.pop("container", {}),
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container], **pod}},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web-svc", "namespace": "ns"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    virtual_service = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "web"}}
    return [*(extra or []), deployment, service, virtual_service]


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        status: int = response.status
        return status


def test_apply_serves_then_replace_then_delete(local_settings: settings_module.Settings) -> None:
    urls = deployments.apply(resources(HTTP_SERVER), settings=local_settings)
    assert list(urls) == ["web-svc"] and urls["web-svc"].startswith("http://127.0.0.1:")
    deployments.wait_ready("web", settings=local_settings, timeout_s=30)
    assert get(urls["web-svc"] + "/") == 200
    first = deployments.read_record("web", settings=local_settings)
    assert first is not None and pids.is_alive(first["process"])
    assert deployments.list_running(local_settings) == ["web"]
    port = int(urls["web-svc"].rsplit(":", 1)[1])
    assert services.read(local_settings)["web-svc"] == {
        "namespace": "ns",
        "owner": "deployment/web",
        "ports": {"80": port},
    }

    again = deployments.apply(resources(HTTP_SERVER), settings=local_settings)
    assert synthetic.pid_gone(first["process"]["pid"])
    deployments.wait_ready("web", settings=local_settings, timeout_s=30)
    assert get(again["web-svc"] + "/") == 200
    second = deployments.read_record("web", settings=local_settings)
    assert second is not None and second["process"]["pid"] != first["process"]["pid"]

    assert deployments.delete("web", settings=local_settings) is True
    assert synthetic.pid_gone(second["process"]["pid"])
    assert deployments.delete("web", settings=local_settings) is False
    assert deployments.list_running(local_settings) == []
    assert services.read(local_settings) == {}


def test_config_map_volume_is_written_and_its_mount_path_rewritten(local_settings: settings_module.Settings) -> None:
    config_map: dict[str, Any] = {
        "kind": "ConfigMap",
        "metadata": {"name": "monitoring"},
        "data": {"config.txt": 'prometheus_config { enable: true, path: "/metrics" }\n'},
    }
    source = "import sys, pathlib\nprint(pathlib.Path(sys.argv[1]).read_text(), flush=True)\n" + synthetic.SLEEP_FOREVER
    listed = resources(
        ["-c", source, "/etc/monitoring/config.txt"],
        probe={},
        extra=[config_map],
        container={"volumeMounts": [{"name": "config", "mountPath": "/etc/monitoring"}]},
        volumes=[{"name": "config", "configMap": {"name": "monitoring"}}],
    )
    deployments.apply(listed, settings=local_settings)
    deployments.wait_ready("web", settings=local_settings, timeout_s=10)
    record = deployments.read_record("web", settings=local_settings)
    assert record is not None
    config_path = record["process"]["argv"][-1]
    assert config_path.startswith(str(local_settings.state_dir)) and config_path.endswith("/config/config.txt")
    with open(config_path) as file:
        assert file.read() == config_map["data"]["config.txt"]


@pytest.mark.parametrize("where", ["containers", "initContainers"])
def test_s3_sync_copier_is_replaced_by_the_object_store(local_settings: settings_module.Settings, where: str) -> None:
    copier = {
        "name": "s3-sync",
        "image": "amazon/aws-cli:2.32.8",
        "command": ["sh", "-c"],
        "args": ["aws s3 sync ..."],
        "env": [{"name": "SOURCE", "value": "s3://bucket/logs/run1"}],
        "volumeMounts": [{"name": "logs", "mountPath": "/logs"}],
    }
    listed = resources([*HTTP_SERVER, "--directory", "/logs"], volumes=[{"name": "logs", "emptyDir": {}}])
    pod = listed[0]["spec"]["template"]["spec"]
    pod["containers"][0]["volumeMounts"] = [{"name": "logs", "mountPath": "/logs"}]
    pod.setdefault(where, []).append(copier)
    process, _ = deployments.local_process(listed[0], resources=listed, settings=local_settings)
    assert process.spec.argv[-1] == str(local_settings.state_dir / "s3" / "bucket" / "logs" / "run1")


def test_dead_server_raises_process_failed_with_log_tail(local_settings: settings_module.Settings) -> None:
    deployments.apply(resources(["-c", "import sys; print('no model found'); sys.exit(3)"]), settings=local_settings)
    with pytest.raises(errors.ProcessFailed) as failed:
        deployments.wait_ready("web", settings=local_settings, timeout_s=30)
    assert failed.value.exit_code == 3
    assert failed.value.tail == "no model found"


def test_unready_server_times_out_with_log_tail(local_settings: settings_module.Settings) -> None:
    source = "print('loading', flush=True)\n" + synthetic.SLEEP_FOREVER
    deployments.apply(resources(["-c", source], probe={"tcpSocket": {"port": 8000}}), settings=local_settings)
    with pytest.raises(errors.WaitTimeout, match="loading"):
        deployments.wait_ready("web", settings=local_settings, timeout_s=1.5)


def test_wait_ready_for_an_unknown_deployment(local_settings: settings_module.Settings) -> None:
    with pytest.raises(errors.ConfigError, match="apply it first"):
        deployments.wait_ready("nothing", settings=local_settings, timeout_s=1)


def test_two_containers_are_refused(local_settings: settings_module.Settings) -> None:
    listed = resources(HTTP_SERVER)
    pod = listed[0]["spec"]["template"]["spec"]
    pod["containers"].append({**pod["containers"][0], "name": "other"})
    with pytest.raises(errors.ConfigError, match="one container"):
        deployments.apply(listed, settings=local_settings)


def test_stop_all_stops_every_server_but_never_an_unrelated_pid(local_settings: settings_module.Settings) -> None:
    deployments.apply(resources(HTTP_SERVER), settings=local_settings)
    unrelated = subprocess.Popen([sys.executable, "-c", synthetic.SLEEP_FOREVER], start_new_session=True)
    try:
        stale = {"name": "stale", "process": {"pid": unrelated.pid, "started": "1", "argv": []}}
        (local_settings.state_dir / "local" / "deployments" / "stale.json").write_text(json.dumps(stale))
        record = deployments.read_record("web", settings=local_settings)
        assert record is not None
        assert deployments.stop_all(local_settings) == ["web"]
        assert synthetic.pid_gone(record["process"]["pid"])
        assert unrelated.poll() is None
    finally:
        synthetic.kill_if_alive(unrelated.pid)
        unrelated.wait()


def test_the_tensorboard_manifest_maps_to_a_local_tensorboard(local_settings: settings_module.Settings) -> None:
    values = {
        "app_name": "mnist",
        "namespace": "ns",
        "service_account": "default-editor",
        "bucket": "my-bucket",
        "logdir_key": "runs/1/logs",
        "region": "us-west-2",
        "tensorboard_image": workloads.TENSORBOARD_IMAGE,
    }
    listed = manifests.render("tensorboard", values, app_name="mnist")
    deployment = manifests.find(listed, "Deployment")
    process, readiness = deployments.local_process(deployment, resources=listed, settings=local_settings)
    port = process.ports[6006]
    logdir = local_settings.state_dir / "s3" / "my-bucket" / "runs" / "1" / "logs"
    assert process.spec.argv == [
        str(pathlib.Path(sys.executable).parent / "tensorboard"),
        f"--logdir={logdir}",
        f"--port={port}",
        "--path_prefix=/mnist/ns/tensorboard",
    ]
    assert logdir.is_dir()
    assert readiness == {"kind": "http", "port": port, "path": "/mnist/ns/tensorboard/"}
