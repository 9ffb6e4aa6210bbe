"""Shared fixtures for the AWS tests: fake credentials, moto, settings, and a restricted IAM user.

Every test here runs against moto (no network). The fake keys are distinctive strings so
tests can assert they never appear in a report, a repr or a log.
"""

from __future__ import annotations

import collections.abc
import json
import pathlib
from typing import Any

import boto3.session
import moto
import pytest

from helpers import settings as settings_module

ACCESS_KEY = "AKIATESTINGKEY000001"
SECRET_KEY = "testing-secret-key-never-shown"
# moto's default account, the one the fake keys belong to.
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "111111111111"
REGIONS = ["us-west-2", "us-east-1", "cn-northwest-1"]


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """Fake keys in the environment and no real AWS config, profile, endpoint or metadata service."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "MOTO_ACCOUNT_ID",
        "MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def mocked_aws() -> collections.abc.Iterator[None]:
    """All AWS services answered in memory by moto, reset after the test.

    moto's own stand-in keys are switched off so that calls sign with the fake keys above.
    """
    with moto.mock_aws(config={"core": {"mock_credentials": False}}):
        yield


@pytest.fixture
def make_settings(tmp_path: pathlib.Path) -> collections.abc.Callable[..., settings_module.Settings]:
    """Build Settings on the test's state dir; keyword arguments override fields."""

    def make(**values: Any) -> settings_module.Settings:
        return settings_module.Settings(**{"backend": "local", "state_dir": tmp_path / "state", **values})

    return make


@pytest.fixture
def make_session() -> collections.abc.Callable[[str], boto3.session.Session]:
    """A plain boto3 session with the fake keys in a region, for arranging moto state."""
    return lambda region: boto3.session.Session(region_name=region)


@pytest.fixture
def make_restricted_session(
    mocked_aws: None,
) -> collections.abc.Callable[[dict[str, Any] | None, str], boto3.session.Session]:
    """A session for a new IAM user holding only `document` (None: no policy at all)."""

    def make(document: dict[str, Any] | None, region: str) -> boto3.session.Session:
        iam = boto3.session.Session(region_name=region).client("iam")
        name = f"restricted-{len(iam.list_users()['Users'])}"
        iam.create_user(UserName=name)
        if document is not None:
            iam.put_user_policy(UserName=name, PolicyName="only-this", PolicyDocument=json.dumps(document))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return boto3.session.Session(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=region
        )

    return make


def create_bucket(session: boto3.session.Session, bucket: str) -> None:
    """Create `bucket` in the session's region the way S3 wants (no LocationConstraint in us-east-1)."""
    region = session.region_name
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    session.client("s3").create_bucket(Bucket=bucket, **extra)
