"""Tests of helpers.aws.credentials: the pods' own ServiceAccount carries the IRSA role; the aws-secret Secret
holds only long-lived keys and hides them; temporary credentials are never frozen into it."""

from __future__ import annotations

import datetime
import logging
import pathlib

import boto3.session
import botocore.credentials
import IPython.lib.pretty
import pytest

from helpers import errors
from helpers.aws import credentials

from . import conftest

ROLE_ARN = f"arn:aws:iam::{conftest.ACCOUNT}:role/mnist-irsa"
KEYS = botocore.credentials.ReadOnlyCredentials(conftest.ACCESS_KEY, conftest.SECRET_KEY, None)


def test_secret_holds_keys_and_region(make_settings) -> None:
    secret = credentials.secret_manifest(
        settings=make_settings(region="cn-northwest-1", namespace="team"), credentials=KEYS
    )
    assert (secret["kind"], secret["metadata"]["name"], secret["metadata"]["namespace"]) == (
        "Secret",
        "aws-secret",
        "team",
    )
    assert secret["stringData"] == {
        "AWS_ACCESS_KEY_ID": conftest.ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": conftest.SECRET_KEY,
        "AWS_REGION": "cn-northwest-1",
    }
    assert secret["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kubeflow-mnist"


def test_secret_never_holds_a_session_token(make_settings) -> None:
    keys = botocore.credentials.ReadOnlyCredentials(conftest.ACCESS_KEY, conftest.SECRET_KEY, "session-token-secret")
    with pytest.raises(errors.ConfigError) as caught:
        credentials.secret_manifest(settings=make_settings(), credentials=keys)
    assert caught.value.parameter == "role_arn"
    assert "session-token-secret" not in str(caught.value)


def test_secret_never_shows_its_values(make_settings, caplog: pytest.LogCaptureFixture) -> None:
    secret = credentials.secret_manifest(settings=make_settings(), credentials=KEYS)
    logging.getLogger("test").warning("applying %s", secret)
    shown = [repr(secret), str(secret), f"{secret}", IPython.lib.pretty.pretty(secret), caplog.text]
    for text in shown:
        assert "aws-secret" in text
        for value in (conftest.ACCESS_KEY, conftest.SECRET_KEY):
            assert value not in text


def test_service_account_is_annotated_only_with_a_role(make_settings) -> None:
    plain = credentials.service_account_manifest(settings=make_settings(service_account="runner"))
    assert plain["kind"] == "ServiceAccount"
    assert plain["metadata"]["name"] == "runner"
    assert "annotations" not in plain["metadata"]
    irsa = credentials.service_account_manifest(settings=make_settings(role_arn=ROLE_ARN))
    assert irsa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE_ARN}


def test_pods_get_their_own_service_account_never_the_profiles(make_settings) -> None:
    account = credentials.service_account_manifest(settings=make_settings(app_name="digits", role_arn=ROLE_ARN))
    assert account["metadata"]["name"] == "digits-workloads"
    assert account["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kubeflow-mnist"


def test_pod_credentials_with_irsa_is_the_annotated_account_alone(mocked_aws: None, make_settings) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    (account,) = credentials.pod_credentials(settings=make_settings(role_arn=ROLE_ARN), session=session)
    assert account["kind"] == "ServiceAccount"
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE_ARN}


def test_pod_credentials_with_long_lived_keys_adds_the_secret(mocked_aws: None, make_settings) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    account, secret = credentials.pod_credentials(settings=make_settings(), session=session)
    assert (account["kind"], account["metadata"]["name"]) == ("ServiceAccount", "mnist-workloads")
    assert "annotations" not in account["metadata"]
    assert secret["kind"] == "Secret"
    assert secret["stringData"]["AWS_ACCESS_KEY_ID"] == conftest.ACCESS_KEY


def _web_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """The environment IRSA gives a notebook pod: a role and a projected token, no keys."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    token = tmp_path / "token"
    token.write_text("projected-service-account-token")
    monkeypatch.setenv("AWS_ROLE_ARN", f"arn:aws:iam::{conftest.ACCOUNT}:role/notebook")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))


@pytest.mark.parametrize("source", ["session token", "web identity"])
def test_temporary_credentials_are_never_frozen_into_a_secret(
    source: str, make_settings, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    if source == "session token":
        monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-secret")
    else:
        _web_identity(monkeypatch, tmp_path)
    session = boto3.session.Session(region_name="us-west-2")
    with pytest.raises(errors.ConfigError) as caught:
        credentials.pod_credentials(settings=make_settings(), session=session)
    assert caught.value.parameter == "role_arn"
    message = str(caught.value)
    assert "role_arn" in message and "long-lived keys" in message
    assert "session-token-secret" not in message and conftest.SECRET_KEY not in message


def test_temporary_credentials_are_fine_with_irsa(
    make_settings, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    _web_identity(monkeypatch, tmp_path)
    session = boto3.session.Session(region_name="us-west-2")
    (account,) = credentials.pod_credentials(settings=make_settings(role_arn=ROLE_ARN), session=session)
    assert account["kind"] == "ServiceAccount"


@pytest.mark.parametrize(
    ("method", "token", "refreshable", "expected"),
    [
        ("env", None, False, ""),
        ("shared-credentials-file", None, False, ""),
        ("env", "token", False, "env with a session token"),
        ("sso", "token", True, "sso"),
        ("assume-role", "token", True, "assume-role"),
        ("container-role", "token", True, "container-role"),
        ("iam-role", "token", True, "iam-role"),
    ],
)
def test_temporary_source_names_what_expires(method: str, token: str | None, refreshable: bool, expected: str) -> None:
    if refreshable:
        expiry = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).isoformat()
        found: botocore.credentials.Credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(
            {"access_key": "a", "secret_key": "b", "token": token, "expiry_time": expiry},
            refresh_using=lambda: {},
            method=method,
        )
    else:
        found = botocore.credentials.Credentials("a", "b", token, method=method)
    assert credentials.temporary_source(found) == expected


def test_no_credentials_is_an_aws_error(make_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(errors.AwsError, match="NoCredentials"):
        credentials.session_credentials(session=boto3.session.Session(region_name="us-west-2"))
