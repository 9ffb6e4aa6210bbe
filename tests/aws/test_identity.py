"""Tests of helpers.aws.identity against moto: account, ARN and partition of the caller."""

from __future__ import annotations

import boto3.session
import botocore.exceptions
import pytest

from helpers import errors
from helpers.aws import identity

from . import conftest


@pytest.mark.parametrize(("region", "partition"), [("us-west-2", "aws"), ("cn-northwest-1", "aws-cn")])
def test_caller_identity(mocked_aws: None, region: str, partition: str) -> None:
    caller = identity.caller_identity(session=boto3.session.Session(region_name=region))
    assert caller.account == conftest.ACCOUNT
    assert caller.partition == partition
    assert caller.arn.startswith(f"arn:{partition}:")
    assert caller.user_id


def test_caller_identity_follows_the_account(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", conftest.OTHER_ACCOUNT)
    assert identity.caller_identity(session=boto3.session.Session(region_name="us-west-2")).account == (
        conftest.OTHER_ACCOUNT
    )


def test_no_credentials_is_an_aws_error(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(errors.AwsError, match="NoCredentials") as caught:
        identity.caller_identity(session=boto3.session.Session(region_name="us-west-2"))
    assert isinstance(caught.value.__cause__, botocore.exceptions.NoCredentialsError)
