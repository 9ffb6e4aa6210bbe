"""Check that S3 and ECR answer with these credentials before anything is created.

Each check is one cheap read-only call; a refusal is reported with the IAM action to ask an
administrator for, instead of surfacing later as an obscure failure inside a training pod.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import boto3.session

from helpers import errors, settings as settings_module
from helpers.aws import failures

# Answers that prove the call was authorized: the thing is simply not created yet.
_NOT_YET_CREATED = frozenset({"404", "NoSuchBucket", "NotFound", "RepositoryNotFoundException"})


@dataclasses.dataclass(frozen=True)
class AccessCheck:
    """One read-only call: the IAM action it needs, whether it was allowed, and what it found."""

    action: str
    allowed: bool
    detail: str


def _check(action: str, operation: str, call: Callable[[], object], *, found: str) -> AccessCheck:
    service = action.split(":")[0]
    try:
        with failures.translated(service, operation):
            call()
    except errors.AwsError as e:
        if e.permission:
            return AccessCheck(action=e.permission, allowed=False, detail=e.message)
        if e.code in _NOT_YET_CREATED:
            return AccessCheck(action=action, allowed=True, detail="allowed; not created yet")
        raise
    return AccessCheck(action=action, allowed=True, detail=found)


def check_access(*, session: boto3.session.Session, settings: settings_module.Settings) -> list[AccessCheck]:
    """Call S3 ListBuckets, HeadBucket (when a bucket is set) and ECR DescribeRepositories.

    Returns one AccessCheck per call; a refusal is a check with `allowed=False`, naming the IAM
    action. Raises AwsError for failures that are not refusals (no credentials, no network).
    """
    s3 = session.client("s3")
    ecr = session.client("ecr")
    checks = [_check("s3:ListAllMyBuckets", "ListBuckets", s3.list_buckets, found="allowed")]
    if settings.bucket:
        checks.append(
            _check(
                "s3:ListBucket",
                "HeadBucket",
                lambda: s3.head_bucket(Bucket=settings.bucket),
                found=f"allowed; bucket {settings.bucket} exists",
            )
        )
    checks.append(
        _check(
            "ecr:DescribeRepositories",
            "DescribeRepositories",
            lambda: ecr.describe_repositories(repositoryNames=[settings.repository]),
            found=f"allowed; repository {settings.repository} exists",
        )
    )
    return checks


def refused(checks: list[AccessCheck]) -> list[str]:
    """The IAM actions that were refused, in check order (empty when all were allowed)."""
    return [check.action for check in checks if not check.allowed]
