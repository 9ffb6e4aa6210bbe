"""Tests of helpers.aws.setup against moto: the whole notebook-01 AWS step, in every partition, run twice."""

from __future__ import annotations

import boto3.session
import IPython.lib.pretty
import pytest
from moto.core import authorization

from helpers import errors
from helpers.aws import setup

from . import conftest


@pytest.mark.parametrize("region", conftest.REGIONS)
def test_setup_twice_creates_then_reports_existing(mocked_aws: None, make_settings, region: str) -> None:
    settings = make_settings(region=region)
    first = setup.setup(settings=settings)
    second = setup.setup(settings=settings)
    bucket = f"mnist-{conftest.ACCOUNT}-{region}"
    assert first.settings.bucket == second.settings.bucket == bucket
    assert [(row.item, row.status) for row in first.rows()][-4:] == [
        ("S3 bucket", "created"),
        ("ECR repository", "created"),
        ("ECR repository", "created"),
        ("IAM policy", "created"),
    ]
    assert [(row.item, row.status) for row in second.rows()][-4:] == [
        ("S3 bucket", "exists"),
        ("ECR repository", "exists"),
        ("ECR repository", "exists"),
        ("IAM policy", "exists"),
    ]
    assert first.rows()[0] == second.rows()[0]


def test_china_regions_use_the_aws_cn_partition(mocked_aws: None, make_settings) -> None:
    result = setup.setup(settings=make_settings(region="cn-northwest-1"))
    assert result.caller.partition == "aws-cn"
    assert result.policy.arn.startswith("arn:aws-cn:iam::")
    train, webui = result.repositories
    assert train.arn.startswith("arn:aws-cn:ecr:cn-northwest-1:")
    assert train.uri == f"{conftest.ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn/kubeflow-mnist/train"
    assert webui.uri == f"{conftest.ACCOUNT}.dkr.ecr.cn-northwest-1.amazonaws.com.cn/kubeflow-mnist/webui"
    document = _default_document(result)
    resources = [statement["Resource"] for statement in document["Statement"]]
    assert resources == [
        f"arn:aws-cn:s3:::{result.settings.bucket}",
        f"arn:aws-cn:s3:::{result.settings.bucket}/*",
        "*",
        sorted([train.arn, webui.arn]),
    ]
    assert "aws-cn partition" in str(result)


def _default_document(result: setup.SetupReport) -> dict:
    client = boto3.session.Session(region_name=result.settings.region).client("iam")
    version = client.get_policy(PolicyArn=result.policy.arn)["Policy"]["DefaultVersionId"]
    return client.get_policy_version(PolicyArn=result.policy.arn, VersionId=version)["PolicyVersion"]["Document"]


def test_a_given_bucket_is_used(mocked_aws: None, make_settings) -> None:
    result = setup.setup(settings=make_settings(bucket="workshop-data"))
    assert result.settings.bucket == "workshop-data"
    assert "s3://workshop-data (us-west-2)" in str(result)


@pytest.mark.parametrize("how", ["irsa", "node"])
def test_policy_is_attached_to_the_irsa_or_node_role(mocked_aws: None, make_settings, how: str) -> None:
    iam = boto3.session.Session(region_name="us-west-2").client("iam")
    role_arn = iam.create_role(RoleName="mnist-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    settings = make_settings(role_arn=role_arn) if how == "irsa" else make_settings()
    node_role_name = "" if how == "irsa" else "mnist-role"
    first = setup.setup(settings=settings, node_role_name=node_role_name)
    second = setup.setup(settings=settings, node_role_name=node_role_name)
    assert (first.role_name, first.role_status, second.role_status) == ("mnist-role", "attached", "exists")
    assert first.rows()[-1] == setup.report.Row("policy attached to role", "mnist-role", "attached")
    attached = iam.list_attached_role_policies(RoleName="mnist-role")["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [first.policy.arn]


def test_no_role_means_no_attachment(mocked_aws: None, make_settings) -> None:
    result = setup.setup(settings=make_settings())
    assert result.role_name == ""
    assert "role" not in str(result)


def test_report_shows_no_secret(mocked_aws: None, make_settings) -> None:
    result = setup.setup(settings=make_settings())
    for text in (str(result), result._repr_html_(), repr(result), IPython.lib.pretty.pretty(result)):
        assert conftest.SECRET_KEY not in text
        assert conftest.ACCESS_KEY not in text


def test_refused_permissions_stop_setup_before_anything_is_created(
    make_restricted_session, make_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    restricted = make_restricted_session(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}],
        },
        "us-west-2",
    )
    keys = restricted.get_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys.secret_key)
    with authorization.enable_iam_authentication(), pytest.raises(errors.AwsError) as caught:
        setup.setup(settings=make_settings())
    assert caught.value.permission == "s3:ListAllMyBuckets, s3:ListBucket, ecr:DescribeRepositories"
    assert "user/restricted-0" in str(caught.value)
    assert boto3.session.Session(region_name="us-west-2").client("s3").list_buckets()["Buckets"] == []
