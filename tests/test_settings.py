"""Settings: layering, validation messages that name the parameter, auto backend."""

from __future__ import annotations

import pathlib

import pytest

from helpers import errors, settings as settings_module, state


def test_defaults_run_with_no_edits(state_dir: pathlib.Path) -> None:
    settings = settings_module.load(state_dir=str(state_dir))
    assert settings.backend == "local"  # no service-account token here
    assert settings.namespace == "kubeflow-user-example-com"
    assert settings.state_dir == state_dir.resolve()


@pytest.mark.parametrize(
    ("parameter", "value", "message"),
    [
        ("backend", "k8s", "backend"),
        ("namespace", "My_Namespace", "DNS-1123"),
        ("region", "mars-1", "AWS region"),
        ("region", 5, "valid string"),
        ("bucket", "Bad_Bucket", "S3 bucket"),
        ("bucket", "a..b", "S3 bucket"),
        ("repository", "UPPER/case", "ECR repository"),
        ("bucket", "my-bucket\n", "S3 bucket"),
        ("role_arn", "role/foo", "IAM role ARN"),
        ("role_arn", "arn:aws:iam::123456789012:role/path/", "IAM role ARN"),
        ("wait_timeout_s", -1, "positive"),
        ("api_retries", 0, "between 1 and 20"),
        ("app_name", "x" * 64, "DNS-1123"),
        ("num_workers", 3, "not a setting"),
    ],
)
def test_bad_value_names_the_parameter(state_dir: pathlib.Path, parameter: str, value: object, message: str) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        settings_module.load(state_dir=str(state_dir), **{parameter: value})
    assert caught.value.parameter == parameter
    assert repr(value) in str(caught.value)
    assert message in str(caught.value)


def test_layers_parameters_over_environment_over_state_over_defaults(state_dir: pathlib.Path) -> None:
    state.update(state_dir, "settings", {"region": "eu-west-1", "namespace": "saved-ns", "bucket": "saved-bucket"})
    environ = {"MNIST_NAMESPACE": "env-ns", "MNIST_STATE_DIR": str(state_dir)}
    settings = settings_module.load(environ=environ, bucket="given-bucket")
    assert settings.region == "eu-west-1"  # from the state file
    assert settings.namespace == "env-ns"  # environment beats the state file
    assert settings.bucket == "given-bucket"  # a parameter beats everything
    assert settings.repository == "kubeflow-mnist/train"  # default


def test_empty_parameters_mean_not_given(state_dir: pathlib.Path) -> None:
    state.update(state_dir, "settings", {"bucket": "from-01"})
    settings = settings_module.load(state_dir=str(state_dir), bucket="", region=None)
    assert settings.bucket == "from-01"
    assert settings.region == "us-west-2"


def test_save_then_load_round_trips(state_dir: pathlib.Path) -> None:
    first = settings_module.load(state_dir=str(state_dir), region="cn-northwest-1", bucket="my-bucket")
    settings_module.save(first)
    again = settings_module.load(state_dir=str(state_dir))
    assert again == first
    assert again.partition == "aws-cn"


def test_pods_run_as_their_own_service_account_named_after_the_app(state_dir: pathlib.Path) -> None:
    assert settings_module.load(state_dir=str(state_dir)).service_account == "mnist-workloads"
    settings_module.save(settings_module.load(state_dir=str(state_dir)))
    # A derived name is not saved: a later app_name derives its own.
    assert settings_module.load(state_dir=str(state_dir), app_name="digits").service_account == "digits-workloads"
    chosen = settings_module.load(state_dir=str(state_dir), service_account="runner")
    settings_module.save(chosen)
    assert settings_module.load(state_dir=str(state_dir), app_name="digits").service_account == "runner"


@pytest.mark.parametrize(
    ("region", "partition"),
    [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("eu-central-2", "aws")],
)
def test_partition_follows_region(state_dir: pathlib.Path, region: str, partition: str) -> None:
    assert settings_module.load(state_dir=str(state_dir), region=region).partition == partition


def test_require_names_the_missing_setting(settings: settings_module.Settings) -> None:
    with pytest.raises(errors.ConfigError, match="run 01_aws_setup first") as caught:
        settings.require("bucket")
    assert caught.value.parameter == "bucket"


def test_auto_is_local_without_a_service_account(tmp_path: pathlib.Path) -> None:
    assert not settings_module.in_cluster(token_path=tmp_path / "token", environ={"KUBERNETES_SERVICE_HOST": "x"})


def test_auto_is_kubeflow_when_the_api_server_answers(tmp_path: pathlib.Path) -> None:
    import socket

    token = tmp_path / "token"
    token.write_text("t")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(port)}
        assert settings_module.in_cluster(token_path=token, environ=environ)
    # Nothing listens any more: a stale token without an API server means local.
    assert not settings_module.in_cluster(token_path=token, environ=environ)


def test_describe_lists_every_field(settings: settings_module.Settings) -> None:
    described = settings_module.describe(settings)
    assert [row.item for row in described.rows] == list(settings_module.Settings.model_fields)
    assert described.status_of("backend") == "set"
    assert "<table>" in described._repr_html_()
