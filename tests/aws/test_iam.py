"""Tests of helpers.aws.iam: the policy grants only the bucket and repository, and is kept current idempotently."""

from __future__ import annotations

import pathlib

import boto3.session
import pytest
from moto.core import authorization

from helpers import errors
from helpers.aws import iam, partition, s3

from . import conftest

REPOSITORY_ARN = f"arn:aws:ecr:us-west-2:{conftest.ACCOUNT}:repository/kubeflow-mnist/train"


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _statements(document: dict) -> list[dict]:
    return [
        {**statement, "Action": _listed(statement["Action"]), "Resource": _listed(statement["Resource"])}
        for statement in document["Statement"]
    ]


@pytest.mark.parametrize(("region", "partition_name"), [("us-west-2", "aws"), ("cn-northwest-1", "aws-cn")])
def test_policy_grants_nothing_beyond_the_bucket_and_repository(region: str, partition_name: str) -> None:
    train = partition.repository_arn(conftest.ACCOUNT, region, "kubeflow-mnist/train")
    webui = partition.repository_arn(conftest.ACCOUNT, region, "kubeflow-mnist/webui")
    document = iam.policy_document(partition=partition_name, bucket="mnist-data", repository_arns=[train, webui])
    assert document["Version"] == "2012-10-17"
    grants = {
        (action, resource)
        for statement in _statements(document)
        for action in statement["Action"]
        for resource in statement["Resource"]
    }
    push_and_pull = (
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    )
    bucket = f"arn:{partition_name}:s3:::mnist-data"
    assert grants == {
        ("s3:ListBucket", bucket),
        ("s3:GetObject", f"{bucket}/*"),
        ("s3:PutObject", f"{bucket}/*"),
        ("s3:DeleteObject", f"{bucket}/*"),
        ("ecr:GetAuthorizationToken", "*"),
    } | {(action, repository) for action in push_and_pull for repository in (train, webui)}
    assert all(statement["Effect"] == "Allow" for statement in document["Statement"])
    assert all("*" not in action for action, _ in grants)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"partition": "aws", "bucket": 'x", "Resource": "*', "repository_arns": [REPOSITORY_ARN]}, "bucket"),
        ({"partition": "aws", "bucket": "ab", "repository_arns": [REPOSITORY_ARN]}, "bucket"),
        ({"partition": "aws", "bucket": "mnist-data", "repository_arns": ["*"]}, "repository_arn"),
        ({"partition": "aws", "bucket": "mnist-data", "repository_arns": [REPOSITORY_ARN + "\n"]}, "repository_arn"),
        ({"partition": "aws:*", "bucket": "mnist-data", "repository_arns": [REPOSITORY_ARN]}, "partition"),
    ],
)
def test_policy_document_rejects_values_that_would_widen_it(arguments: dict, parameter: str) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        iam.policy_document(**arguments)
    assert caught.value.parameter == parameter


def _document(bucket: str) -> dict:
    return iam.policy_document(partition="aws", bucket=bucket, repository_arns=[REPOSITORY_ARN])


def _versions(session: boto3.session.Session, policy_arn: str) -> list[dict]:
    return session.client("iam").list_policy_versions(PolicyArn=policy_arn)["Versions"]


def test_ensure_policy_creates_keeps_and_updates(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    created = iam.ensure_policy(session=session, name="mnist-access", document=_document("bucket-1"))
    assert created == iam.PolicyInfo(arn=f"arn:aws:iam::{conftest.ACCOUNT}:policy/mnist-access", status="created")
    assert iam.ensure_policy(session=session, name="mnist-access", document=_document("bucket-1")).status == "exists"
    assert iam.ensure_policy(session=session, name="mnist-access", document=_document("bucket-2")).status == "updated"
    client = session.client("iam")
    default = client.get_policy(PolicyArn=created.arn)["Policy"]["DefaultVersionId"]
    current = client.get_policy_version(PolicyArn=created.arn, VersionId=default)["PolicyVersion"]["Document"]
    assert current == _document("bucket-2")
    assert len(_versions(session, created.arn)) == 2


def test_update_keeps_within_five_versions_by_deleting_the_oldest(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    policy_arn = iam.ensure_policy(session=session, name="mnist-access", document=_document("bucket-1")).arn
    for index in range(2, 8):
        assert iam.ensure_policy(
            session=session, name="mnist-access", document=_document(f"bucket-{index}")
        ).status == ("updated")
    versions = _versions(session, policy_arn)
    assert len(versions) == iam.MAX_POLICY_VERSIONS
    # v1 and v2 were the oldest non-default versions when room was needed.
    assert sorted(v["VersionId"] for v in versions) == ["v3", "v4", "v5", "v6", "v7"]
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v7"]


def test_policy_arn_is_partition_aware(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="cn-northwest-1")
    document = iam.policy_document(
        partition="aws-cn",
        bucket="mnist-data",
        repository_arns=[partition.repository_arn(conftest.ACCOUNT, "cn-northwest-1", "mnist")],
    )
    info = iam.ensure_policy(session=session, name="mnist-access", document=document)
    assert info.arn == f"arn:aws-cn:iam::{conftest.ACCOUNT}:policy/mnist-access"
    assert iam.ensure_policy(session=session, name="mnist-access", document=document).status == "exists"


def test_attach_role_policy_is_idempotent(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    session.client("iam").create_role(RoleName="mnist-irsa", AssumeRolePolicyDocument="{}")
    policy_arn = iam.ensure_policy(session=session, name="mnist-access", document=_document("bucket-1")).arn
    assert iam.attach_role_policy(session=session, role_name="mnist-irsa", policy_arn=policy_arn) == "attached"
    assert iam.attach_role_policy(session=session, role_name="mnist-irsa", policy_arn=policy_arn) == "exists"
    attached = session.client("iam").list_attached_role_policies(RoleName="mnist-irsa")["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [policy_arn]


def test_attach_to_a_missing_role_is_an_aws_error(mocked_aws: None) -> None:
    with pytest.raises(errors.AwsError) as caught:
        iam.attach_role_policy(
            session=boto3.session.Session(region_name="us-west-2"),
            role_name="missing",
            policy_arn=f"arn:aws:iam::{conftest.ACCOUNT}:policy/x",
        )
    assert caught.value.code == "NoSuchEntity"


@pytest.mark.parametrize(
    ("role_arn", "name"),
    [
        (f"arn:aws:iam::{conftest.ACCOUNT}:role/mnist-irsa", "mnist-irsa"),
        (f"arn:aws-cn:iam::{conftest.ACCOUNT}:role/service/eks/mnist-irsa", "mnist-irsa"),
    ],
)
def test_role_name_of(role_arn: str, name: str) -> None:
    assert iam.role_name_of(role_arn) == name


def test_role_name_of_rejects_other_arns() -> None:
    with pytest.raises(errors.ConfigError, match="role_arn"):
        iam.role_name_of(f"arn:aws:iam::{conftest.ACCOUNT}:user/someone")


def test_policy_really_limits_a_user_to_the_bucket(make_restricted_session, tmp_path: pathlib.Path) -> None:
    admin = boto3.session.Session(region_name="us-west-2")
    for bucket in ("mnist-data", "someone-elses"):
        conftest.create_bucket(admin, bucket)
    restricted = make_restricted_session(_document("mnist-data"), "us-west-2")
    source = tmp_path / "a.txt"
    source.write_text("hello")
    with authorization.enable_iam_authentication():
        client = restricted.client("s3")
        s3.upload_file(source, "s3://mnist-data/a.txt", client=client)
        assert s3.download_tree("s3://mnist-data/", tmp_path / "copy", client=client) == 1
        with pytest.raises(errors.AwsError) as caught:
            s3.upload_file(source, "s3://someone-elses/a.txt", client=client)
    assert caught.value.permission == "s3:PutObject"
    assert (tmp_path / "copy" / "a.txt").read_text() == "hello"
