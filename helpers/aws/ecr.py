"""ECR: create the training image's repository idempotently.

Re-runs find the repository and report it instead of failing like `create-repository` did
upstream. Tags stay MUTABLE because every re-run pushes the same tag again; images are
scanned on push.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import boto3.session

from helpers import errors
from helpers.aws import failures, partition

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecr.type_defs import RepositoryTypeDef

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RepositoryInfo:
    """An ECR repository: its name, image URI (no tag), ARN, and whether this call created it."""

    name: str
    uri: str
    arn: str
    created: bool


def ensure_repository(*, session: boto3.session.Session, name: str) -> RepositoryInfo:
    """Find or create repository `name` in the session's region; raises AwsError when refused."""
    client = session.client("ecr")
    try:
        found, created = _describe(client, name), False
    except errors.AwsError as e:
        if e.code != "RepositoryNotFoundException":
            raise
        found, created = _create(client, name)
    # Built from the parts rather than taken from repositoryUri so the host is right in every partition.
    uri = partition.repository_uri(found["registryId"], client.meta.region_name, name)
    return RepositoryInfo(name=name, uri=uri, arn=found["repositoryArn"], created=created)


def _describe(client: ECRClient, name: str) -> RepositoryTypeDef:
    with failures.translated("ecr", "DescribeRepositories"):
        return client.describe_repositories(repositoryNames=[name])["repositories"][0]


def _create(client: ECRClient, name: str) -> tuple[RepositoryTypeDef, bool]:
    try:
        with failures.translated("ecr", "CreateRepository"):
            response = client.create_repository(
                repositoryName=name,
                imageTagMutability="MUTABLE",
                imageScanningConfiguration={"scanOnPush": True},
            )
    except errors.AwsError as e:
        # Created by a concurrent run since DescribeRepositories: that is success.
        if e.code != "RepositoryAlreadyExistsException":
            raise
        return _describe(client, name), False
    logger.info("created ECR repository %s", name)
    return response["repository"], True


def image_exists(*, session: boto3.session.Session, repository: str, tag: str) -> bool:
    """True when `repository` already holds an image tagged `tag`; raises AwsError when refused."""
    client = session.client("ecr")
    try:
        with failures.translated("ecr", "DescribeImages"):
            client.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except errors.AwsError as e:
        if e.code == "ImageNotFoundException":
            return False
        raise
    return True


def delete_repository(*, session: boto3.session.Session, name: str) -> bool:
    """Delete repository `name` with every image in it (force); returns False when it was already gone.

    Raises AwsError when refused.
    """
    client = session.client("ecr")
    with failures.deleting(f"ECR repository {name}", not_found="RepositoryNotFoundException") as deletion:
        with failures.translated("ecr", "DeleteRepository"):
            client.delete_repository(repositoryName=name, force=True)
        logger.info("deleted ECR repository %s and its images", name)
    return not deletion.already_gone
