"""containers.translate: commands, $(VAR) expansion, s3:// paths, image paths, ports, Service names, env."""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.local import containers, services

REPO = containers.REPO_ROOT


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "main", "image": "python:3.11-slim", "command": ["python"], **fields}


def fixed_ports(*local: int) -> Any:
    return iter(local).__next__


@pytest.mark.parametrize(
    ("image", "command", "argv_start"),
    [
        ("python:3.11", ["python"], [sys.executable]),
        ("python:3.11", ["/usr/local/bin/python3"], [sys.executable]),
        ("python:3.11", ["python3.11", "-u"], [sys.executable, "-u"]),
        ("tensorflow/tensorflow:2.21.0", ["tensorboard"], [str(pathlib.Path(sys.executable).parent / "tensorboard")]),
        ("tensorflow/serving:2.19.0", ["tensorflow_model_server"], [sys.executable, "-m", "helpers.serving.server"]),
        ("tensorflow/serving:2.19.0", [], [sys.executable, "-m", "helpers.serving.server"]),
    ],
)
def test_command_mapping(
    settings: settings_module.Settings, image: str, command: list[str], argv_start: list[str]
) -> None:
    process = containers.translate({"image": image, "command": command}, name="x", settings=settings, environ={})
    assert process.spec.argv == argv_start


@pytest.mark.parametrize(
    ("image", "command", "message"),
    [
        ("amazon/aws-cli:2.32.8", ["sh", "-c"], "image 'amazon/aws-cli:2.32.8'"),
        ("busybox:1", [], "no command and its image has no known entrypoint"),
    ],
)
def test_unknown_command_names_image_and_command(
    settings: settings_module.Settings, image: str, command: list[str], message: str
) -> None:
    with pytest.raises(errors.ConfigError, match=message):
        containers.translate({"image": image, "command": command}, name="x", settings=settings)


def test_tensorboard_stays_on_loopback(settings: settings_module.Settings) -> None:
    spec = {
        "image": "tensorflow/tensorflow:2.21.0",
        "command": ["tensorboard"],
        "args": ["--logdir=/tmp", "--bind_all"],
    }
    assert containers.translate(spec, name="tb", settings=settings).spec.argv[1:] == ["--logdir=/tmp"]


def test_a_bind_to_every_interface_becomes_loopback(settings: settings_module.Settings) -> None:
    spec = {
        "image": "kubeflow-mnist/webui:1",
        "command": ["python", "-m", "webui"],
        "args": ["--host", "0.0.0.0"],
        "env": [{"name": "WEBUI_HOST", "value": "0.0.0.0"}, {"name": "NOTE", "value": "0.0.0.0 is all"}],
    }
    process = containers.translate(spec, name="ui", settings=settings, environ={})
    assert process.spec.argv[-2:] == ["--host", "127.0.0.1"]
    assert process.spec.env["WEBUI_HOST"] == "127.0.0.1"
    assert process.spec.env["NOTE"] == "0.0.0.0 is all", "only a whole value is a bind address"


@pytest.mark.parametrize(
    ("text", "variables", "expanded"),
    [
        ("$(A)/x", {"A": "1"}, "1/x"),
        ("$$(A)", {"A": "1"}, "$(A)"),
        ("$(MISSING)", {}, "$(MISSING)"),
        ("$HOME and ${A}", {"A": "1"}, "$HOME and ${A}"),
        ("$(A)$(B)", {"A": "1", "B": "2"}, "12"),
    ],
)
def test_kubelet_variable_expansion(text: str, variables: dict[str, str], expanded: str) -> None:
    assert containers.expand(text, variables) == expanded


def test_env_expands_in_order_and_args_see_all(settings: settings_module.Settings) -> None:
    # NAME refers to LATER before LATER is defined, so it stays literal, and args are not expanded twice.
    spec = container(
        args=["--dir=$(BASE)/$(NAME)", "$(LATER)"],
        env=[
            {"name": "BASE", "value": "/data"},
            {"name": "NAME", "value": "$(BASE)-$(LATER)"},
            {"name": "LATER", "value": "z"},
        ],
    )
    process = containers.translate(spec, name="x", settings=settings, environ={})
    assert process.spec.argv[1:] == ["--dir=/data//data-$(LATER)", "z"]
    assert process.spec.env["NAME"] == "/data-$(LATER)"


def test_s3_uris_map_to_the_local_object_store(settings: settings_module.Settings) -> None:
    spec = container(
        args=["--data=s3://my-bucket/data/mnist.npz", "s3://my-bucket"],
        env=[{"name": "EXPORT", "value": "s3://my-bucket/models/mnist"}],
    )
    process = containers.translate(spec, name="x", settings=settings, environ={})
    store = settings.state_dir / "s3" / "my-bucket"
    assert process.spec.argv[1:] == [f"--data={store}/data/mnist.npz", str(store)]
    assert process.spec.env["EXPORT"] == str(store / "models" / "mnist")
    assert containers.local_object_path("s3://my-bucket/a/b", settings=settings) == store / "a" / "b"


def test_local_object_path_refuses_other_schemes(settings: settings_module.Settings) -> None:
    with pytest.raises(errors.ConfigError, match="s3://bucket/key"):
        containers.local_object_path("gs://bucket/key", settings=settings)


def test_training_image_paths_map_to_the_repository(settings: settings_module.Settings) -> None:
    spec = {
        "image": f"123456789012.dkr.ecr.us-west-2.amazonaws.com/{settings.repository}:abc123",
        "command": ["python", "/app/model.py"],
        "args": ["--config=/app/conf.yaml", "--out", "/application"],
    }
    process = containers.translate(spec, name="x", settings=settings, environ={"PYTHONPATH": "/other"})
    assert process.spec.argv == [
        sys.executable,
        str(REPO / "model" / "model.py"),
        f"--config={REPO}/conf.yaml",
        "--out",
        "/application",
    ]
    assert process.spec.cwd == REPO
    assert process.spec.env["PYTHONPATH"].split(":") == [str(REPO), "/other"]


def test_webui_image_runs_from_the_repository(settings: settings_module.Settings) -> None:
    spec = {"image": "example/kubeflow-webui:1", "command": ["python", "-m", "webui"], "args": ["/app/static"]}
    process = containers.translate(spec, name="ui", settings=settings, environ={})
    assert process.spec.argv[1:] == ["-m", "webui", f"{REPO}/static"]
    assert process.spec.cwd == REPO


def test_other_images_keep_their_paths_and_the_callers_folder(settings: settings_module.Settings) -> None:
    process = containers.translate(container(args=["/app/model.py"]), name="x", settings=settings, environ={})
    assert process.spec.argv[1:] == ["/app/model.py"] and process.spec.cwd is None


def test_mounts_rewrite_paths_under_the_mount(settings: settings_module.Settings, tmp_path: pathlib.Path) -> None:
    spec = container(args=["--monitoring_config_file=/etc/monitoring/config.txt", "/etc/monitoringx"])
    process = containers.translate(spec, name="x", settings=settings, mounts={"/etc/monitoring": tmp_path}, environ={})
    assert process.spec.argv[1:] == [f"--monitoring_config_file={tmp_path}/config.txt", "/etc/monitoringx"]


def test_declared_ports_get_loopback_ports_and_are_rewritten(settings: settings_module.Settings) -> None:
    spec = container(
        args=["--rest_api_port=8501", "--port", "8500", "--bind=0.0.0.0:8501", "--steps=8501x", "--batch=64"],
        ports=[{"name": "grpc", "containerPort": 8500}, {"name": "http", "containerPort": 8501}],
        env=[{"name": "PORT", "value": "8501"}, {"name": "OTHER", "value": "64"}],
    )
    process = containers.translate(spec, name="x", settings=settings, port_picker=fixed_ports(41000, 41001))
    assert process.ports == {8500: 41000, 8501: 41001}
    assert process.port_names == {"grpc": 8500, "http": 8501}
    assert process.spec.argv[1:] == [
        "--rest_api_port=41001",
        "--port",
        "41000",
        "--bind=127.0.0.1:41001",
        "--steps=8501x",
        "--batch=64",
    ]
    assert (process.spec.env["PORT"], process.spec.env["OTHER"]) == ("41001", "64")


def test_assigned_ports_win_over_picked_ones(settings: settings_module.Settings) -> None:
    spec = container(args=["--port=2222"], ports=[{"name": "tfjob-port", "containerPort": 2222}])
    process = containers.translate(spec, name="x", settings=settings, assigned_ports={2222: 45000})
    assert process.spec.argv[1:] == ["--port=45000"]


@pytest.mark.parametrize(
    ("reference", "local"),
    [
        ("http://mnist-serving:8501/v1/models/mnist", "http://127.0.0.1:42001/v1/models/mnist"),
        ("http://mnist-serving.ns/v1", "http://127.0.0.1:42080/v1"),
        ("mnist-serving.ns.svc:8500", "127.0.0.1:42000"),
        ("--url=mnist-serving.ns.svc.cluster.local:8501", "--url=127.0.0.1:42001"),
        ("http://mnist-serving.other-ns:8501", "http://mnist-serving.other-ns:8501"),
        ("/models/mnist-serving/1", "/models/mnist-serving/1"),
        ("mnist-serving-2:8501", "mnist-serving-2:8501"),
        ("mnist-serving:9999", "mnist-serving:9999"),
    ],
)
def test_service_names_map_to_loopback(settings: settings_module.Settings, reference: str, local: str) -> None:
    services.register(
        settings=settings,
        name="mnist-serving",
        namespace="ns",
        owner="test",
        ports={8500: 42000, 8501: 42001, 80: 42080},
    )
    spec = container(args=[reference], env=[{"name": "URL", "value": reference}])
    process = containers.translate(spec, name="x", settings=settings, environ={})
    assert process.spec.argv[1:] == [local]
    assert process.spec.env["URL"] == local


def test_secrets_are_not_resolved_and_parent_env_is_kept(settings: settings_module.Settings) -> None:
    spec = container(
        env=[
            {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "aws-secret", "key": "id"}}},
            {"name": "AWS_REGION", "value": "eu-west-1"},
        ],
        envFrom=[{"secretRef": {"name": "aws-secret"}}],
    )
    environ = {"AWS_PROFILE": "mine", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "from-my-profile"}
    process = containers.translate(spec, name="x", settings=settings, environ=environ, extra_env={"TF_CONFIG": "{}"})
    assert process.spec.env == {
        "AWS_PROFILE": "mine",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "from-my-profile",
        "TF_CONFIG": "{}",
    }
