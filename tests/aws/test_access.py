"""Tests of helpers.aws.access against moto: allowed calls pass, refused ones name the IAM action."""

from __future__ import annotations

import boto3.session
import pytest
from moto.core import authorization

from helpers import errors
from helpers.aws import access

from . import conftest


def test_everything_allowed_before_anything_exists(mocked_aws: None, make_settings) -> None:
    checks = access.check_access(
        session=boto3.session.Session(region_name="us-west-2"), settings=make_settings(bucket="mnist-data")
    )
    assert [(check.action, check.allowed) for check in checks] == [
        ("s3:ListAllMyBuckets", True),
        ("s3:ListBucket", True),
        ("ecr:DescribeRepositories", True),
    ]
    assert checks[1].detail == checks[2].detail == "allowed; not created yet"
    assert access.refused(checks) == []


def test_existing_bucket_and_repository_are_reported(mocked_aws: None, make_settings) -> None:
    session = boto3.session.Session(region_name="cn-northwest-1")
    conftest.create_bucket(session, "mnist-data")
    session.client("ecr").create_repository(repositoryName="kubeflow-mnist/train")
    checks = access.check_access(session=session, settings=make_settings(bucket="mnist-data", region="cn-northwest-1"))
    assert [check.detail for check in checks] == [
        "allowed",
        "allowed; bucket mnist-data exists",
        "allowed; repository kubeflow-mnist/train exists",
    ]


def test_without_a_bucket_only_the_account_wide_calls_are_checked(mocked_aws: None, make_settings) -> None:
    checks = access.check_access(session=boto3.session.Session(region_name="us-west-2"), settings=make_settings())
    assert [check.action for check in checks] == ["s3:ListAllMyBuckets", "ecr:DescribeRepositories"]


def test_refused_calls_name_the_missing_actions(make_restricted_session, make_settings) -> None:
    session = make_restricted_session(None, "us-west-2")
    with authorization.enable_iam_authentication():
        checks = access.check_access(session=session, settings=make_settings(bucket="mnist-data"))
    assert access.refused(checks) == ["s3:ListAllMyBuckets", "s3:ListBucket", "ecr:DescribeRepositories"]
    assert not any(check.allowed for check in checks)


def test_failures_that_are_not_refusals_raise(mocked_aws: None, make_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(errors.AwsError, match="NoCredentials"):
        access.check_access(session=boto3.session.Session(region_name="us-west-2"), settings=make_settings())
