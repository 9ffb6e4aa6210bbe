"""Tests of helpers.aws.ecr against moto: idempotent repository creation, partition-aware URIs and ARNs."""

from __future__ import annotations

import boto3.session
import pytest
from moto.core import authorization

from helpers import errors
from helpers.aws import ecr

from . import conftest


@pytest.mark.parametrize(
    ("region", "host_suffix", "arn_prefix"),
    [
        ("us-west-2", "amazonaws.com", "arn:aws:ecr:"),
        ("us-east-1", "amazonaws.com", "arn:aws:ecr:"),
        ("cn-northwest-1", "amazonaws.com.cn", "arn:aws-cn:ecr:"),
    ],
)
def test_ensure_repository_is_idempotent(mocked_aws: None, region: str, host_suffix: str, arn_prefix: str) -> None:
    session = boto3.session.Session(region_name=region)
    first = ecr.ensure_repository(session=session, name="kubeflow-mnist/train")
    second = ecr.ensure_repository(session=session, name="kubeflow-mnist/train")
    assert (first.created, second.created) == (True, False)
    assert first.uri == second.uri == f"{conftest.ACCOUNT}.dkr.ecr.{region}.{host_suffix}/kubeflow-mnist/train"
    assert first.arn == second.arn == f"{arn_prefix}{region}:{conftest.ACCOUNT}:repository/kubeflow-mnist/train"


def test_repository_has_mutable_tags_and_scans_on_push(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    ecr.ensure_repository(session=session, name="mnist")
    found = session.client("ecr").describe_repositories(repositoryNames=["mnist"])["repositories"][0]
    assert found["imageTagMutability"] == "MUTABLE"
    assert found["imageScanningConfiguration"] == {"scanOnPush": True}


def test_repository_created_by_a_concurrent_run_counts_as_existing(mocked_aws: None) -> None:
    client = boto3.session.Session(region_name="us-west-2").client("ecr")
    client.create_repository(repositoryName="mnist")
    found, created = ecr._create(client, "mnist")
    assert created is False
    assert found["repositoryName"] == "mnist"


def test_invalid_name_is_an_aws_error(mocked_aws: None) -> None:
    with pytest.raises(errors.AwsError) as caught:
        ecr.ensure_repository(session=boto3.session.Session(region_name="us-west-2"), name="x")
    assert caught.value.__cause__ is not None


# The smallest image manifest ECR accepts.
MANIFEST = (
    '{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "config":'
    ' {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": "sha256:' + "0" * 64 + '"},'
    ' "layers": []}'
)


def test_delete_repository_removes_it_with_its_images_and_twice_is_fine(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    info = ecr.ensure_repository(session=session, name="kubeflow-mnist/train")
    client = session.client("ecr")
    client.put_image(repositoryName=info.name, imageManifest=MANIFEST, imageTag="abc123")
    client.create_repository(repositoryName="kubeflow-mnist/other")
    assert ecr.delete_repository(session=session, name="kubeflow-mnist/train") is True
    assert [found["repositoryName"] for found in client.describe_repositories()["repositories"]] == [
        "kubeflow-mnist/other"
    ]
    assert ecr.delete_repository(session=session, name="kubeflow-mnist/train") is False


def test_delete_repository_refused_is_an_aws_error(make_restricted_session) -> None:
    admin = boto3.session.Session(region_name="us-west-2")
    ecr.ensure_repository(session=admin, name="mnist")
    restricted = make_restricted_session(None, "us-west-2")
    with authorization.enable_iam_authentication(), pytest.raises(errors.AwsError) as caught:
        ecr.delete_repository(session=restricted, name="mnist")
    assert caught.value.permission == "ecr:DeleteRepository"
    assert ecr.ensure_repository(session=admin, name="mnist").created is False
