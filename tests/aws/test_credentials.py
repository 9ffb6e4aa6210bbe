"""Tests of helpers.aws.credentials: the aws-secret Secret hides its values; IRSA annotates the ServiceAccount."""

from __future__ import annotations

import logging

import boto3.session
import botocore.credentials
import IPython.lib.pretty
import pytest

from helpers import errors
from helpers.aws import credentials

from . import conftest

ROLE_ARN = f"arn:aws:iam::{conftest.ACCOUNT}:role/mnist-irsa"
KEYS = botocore.credentials.ReadOnlyCredentials(conftest.ACCESS_KEY, conftest.SECRET_KEY, "session-token-secret")


def test_secret_holds_keys_token_and_region(make_settings) -> None:
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
        "AWS_SESSION_TOKEN": "session-token-secret",
        "AWS_REGION": "cn-northwest-1",
    }
    assert secret["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kubeflow-mnist"


def test_secret_without_token_has_no_token_key(make_settings) -> None:
    keys = botocore.credentials.ReadOnlyCredentials(conftest.ACCESS_KEY, conftest.SECRET_KEY, None)
    secret = credentials.secret_manifest(settings=make_settings(), credentials=keys)
    assert "AWS_SESSION_TOKEN" not in secret["stringData"]


def test_secret_never_shows_its_values(make_settings, caplog: pytest.LogCaptureFixture) -> None:
    secret = credentials.secret_manifest(settings=make_settings(), credentials=KEYS)
    logging.getLogger("test").warning("applying %s", secret)
    shown = [repr(secret), str(secret), f"{secret}", IPython.lib.pretty.pretty(secret), caplog.text]
    for text in shown:
        assert "aws-secret" in text
        for value in (conftest.ACCESS_KEY, conftest.SECRET_KEY, "session-token-secret"):
            assert value not in text


def test_service_account_is_annotated_only_with_a_role(make_settings) -> None:
    plain = credentials.service_account_manifest(settings=make_settings(service_account="runner"))
    assert plain["kind"] == "ServiceAccount"
    assert plain["metadata"]["name"] == "runner"
    assert "annotations" not in plain["metadata"]
    irsa = credentials.service_account_manifest(settings=make_settings(role_arn=ROLE_ARN))
    assert irsa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE_ARN}


def test_pod_credentials_prefers_irsa(mocked_aws: None, make_settings) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    irsa = credentials.pod_credentials(settings=make_settings(role_arn=ROLE_ARN), session=session)
    assert irsa["kind"] == "ServiceAccount"
    secret = credentials.pod_credentials(settings=make_settings(), session=session)
    assert secret["kind"] == "Secret"
    assert secret["stringData"]["AWS_ACCESS_KEY_ID"] == conftest.ACCESS_KEY


def test_no_credentials_is_an_aws_error(make_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(errors.AwsError, match="NoCredentials"):
        credentials.session_credentials(session=boto3.session.Session(region_name="us-west-2"))
