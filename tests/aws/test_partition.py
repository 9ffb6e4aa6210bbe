"""Tests of helpers.aws.partition: ARNs, ECR hosts and default bucket names in every partition."""

from __future__ import annotations

import hypothesis
import hypothesis.strategies as st
import pytest

from helpers import errors, settings as settings_module
from helpers.aws import partition

from . import conftest


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-west-2", "aws"),
        ("us-east-1", "aws"),
        ("eu-central-1", "aws"),
        ("cn-northwest-1", "aws-cn"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
    ],
)
def test_partition_for(region: str, expected: str) -> None:
    assert partition.partition_for(region) == expected


def test_partition_for_needs_a_region() -> None:
    with pytest.raises(errors.ConfigError, match="region"):
        partition.partition_for("")


def test_arn_fields_in_order() -> None:
    assert (
        partition.arn("ecr", "repository/a/b", partition="aws-cn", region="cn-northwest-1", account=conftest.ACCOUNT)
        == f"arn:aws-cn:ecr:cn-northwest-1:{conftest.ACCOUNT}:repository/a/b"
    )
    assert partition.bucket_arn("data", partition="aws") == "arn:aws:s3:::data"
    assert partition.bucket_arn("data", partition="aws-cn") == "arn:aws-cn:s3:::data"


def test_arn_rejects_unknown_partition() -> None:
    with pytest.raises(errors.ConfigError, match="partition"):
        partition.arn("s3", "data", partition="aws-moon")


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("us-west-2", f"{conftest.ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com"),
        ("us-east-1", f"{conftest.ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"),
        ("cn-northwest-1", f"{conftest.ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn"),
    ],
)
def test_ecr_host_and_repository_names(region: str, host: str) -> None:
    assert partition.ecr_host(conftest.ACCOUNT, region) == host
    assert partition.repository_uri(conftest.ACCOUNT, region, "kubeflow-mnist/train") == f"{host}/kubeflow-mnist/train"
    expected_arn = f"arn:{partition.partition_for(region)}:ecr:{region}:{conftest.ACCOUNT}:repository/x/y"
    assert partition.repository_arn(conftest.ACCOUNT, region, "x/y") == expected_arn


@pytest.mark.parametrize(
    "account", ["", "12345", "12345678901a", "1234567890123", "12345678901\u0660", "123456789012\n"]
)
def test_account_ids_are_checked(account: str) -> None:
    with pytest.raises(errors.ConfigError, match="account"):
        partition.ecr_host(account, "us-west-2")
    with pytest.raises(errors.ConfigError, match="account"):
        partition.default_bucket_name(account, "us-west-2", "mnist")


def test_default_bucket_name_is_readable_and_deterministic() -> None:
    name = partition.default_bucket_name(conftest.ACCOUNT, "us-west-2", "mnist")
    assert name == f"mnist-{conftest.ACCOUNT}-us-west-2"
    assert partition.default_bucket_name(conftest.ACCOUNT, "us-west-2", "mnist") == name


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("mnist-data", True),
        ("my.bucket.1", True),
        ("a" * 63, True),
        ("ab", False),
        ("a" * 64, False),
        ("Bad_Bucket", False),
        ("a..b", False),
        ("-mnist", False),
        ("mnist-data\n", False),
        ('x", "Resource": "*', False),
    ],
)
def test_is_bucket_name(name: str, valid: bool) -> None:
    assert partition.is_bucket_name(name) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (f"arn:aws:iam::{conftest.ACCOUNT}:role/mnist-irsa", True),
        (f"arn:aws-cn:iam::{conftest.ACCOUNT}:role/service/eks/mnist-irsa", True),
        (f"arn:aws-us-gov:iam::{conftest.ACCOUNT}:role/{'r' * 64}", True),
        (f"arn:aws:iam::{conftest.ACCOUNT}:role/{'r' * 65}", False),
        (f"arn:aws:iam::{conftest.ACCOUNT}:role/path/", False),
        (f"arn:aws:iam::{conftest.ACCOUNT}:user/someone", False),
        (f"arn:aws:iam::{conftest.ACCOUNT}:role/mnist-irsa\n", False),
        ("role/foo", False),
    ],
)
def test_is_role_arn(value: str, valid: bool) -> None:
    assert partition.is_role_arn(value) is valid


@pytest.mark.parametrize("app_name", ["a" * 63, "xn--label", "sthree-x", "-"])
def test_default_bucket_name_edge_cases_are_valid(app_name: str) -> None:
    name = partition.default_bucket_name(conftest.ACCOUNT, "cn-northwest-1", app_name)
    assert len(name) <= partition.MAX_BUCKET_NAME_LENGTH
    assert not name.startswith(("xn--", "sthree-", "-"))
    assert name.endswith(f"-{conftest.ACCOUNT}-cn-northwest-1")


@hypothesis.given(
    app_name=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True),
    region=st.sampled_from(["us-west-2", "us-east-1", "ap-southeast-2", "cn-northwest-1", "us-gov-west-1"]),
    account=st.from_regex(r"[0-9]{12}", fullmatch=True),
)
def test_default_bucket_name_always_passes_settings_validation(app_name: str, region: str, account: str) -> None:
    name = partition.default_bucket_name(account, region, app_name)
    assert settings_module.Settings(bucket=name).bucket == name
    assert len(name) <= partition.MAX_BUCKET_NAME_LENGTH
