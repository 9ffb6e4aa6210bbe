"""Partition-aware AWS names: ARNs, ECR hosts and repository URIs for `aws`, `aws-cn` and `aws-us-gov`,
and the checks of bucket names and role ARNs that settings and the IAM policies share.

Pure functions with no AWS calls, because the China regions (cn-north-1, cn-northwest-1) use
`arn:aws-cn:` and `*.amazonaws.com.cn` and a hard-coded `arn:aws:` breaks there.
"""

from __future__ import annotations

import re

from helpers import errors

# Region prefix -> partition; every other region is in the commercial `aws` partition.
_PARTITION_OF_PREFIX = {"cn-": "aws-cn", "us-gov-": "aws-us-gov"}
# DNS suffix of service endpoints per partition.
DNS_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}
_ACCOUNT = re.compile(r"[0-9]{12}")
# S3's limit on bucket name length.
MAX_BUCKET_NAME_LENGTH = 63
# S3's bucket names: 3-63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# IAM's role ARNs: `role/`, an optional path of `/`-ended parts, then a name of at most 64 characters.
_ROLE_ARN = re.compile(r"arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}")


def partition_for(region: str) -> str:
    """The partition of `region`: `aws-cn` for cn-*, `aws-us-gov` for us-gov-*, else `aws`."""
    if not region:
        raise errors.ConfigError("region", region, "an AWS region is needed, e.g. us-west-2 or cn-northwest-1")
    for prefix, partition in _PARTITION_OF_PREFIX.items():
        if region.startswith(prefix):
            return partition
    return "aws"


def arn(service: str, resource: str, *, partition: str, region: str = "", account: str = "") -> str:
    """`arn:<partition>:<service>:<region>:<account>:<resource>`; raises ConfigError for an unknown partition."""
    if partition not in DNS_SUFFIX:
        raise errors.ConfigError("partition", partition, f"is not one of {sorted(DNS_SUFFIX)}")
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def is_bucket_name(name: str) -> bool:
    """True when `name` is a valid S3 bucket name (3-63 characters of a-z, 0-9, '.', '-'; no "..")."""
    return _BUCKET_NAME.fullmatch(name) is not None and ".." not in name


def is_role_arn(value: str) -> bool:
    """True when `value` is an IAM role ARN in any partition (`arn:aws:iam::123456789012:role/NAME`)."""
    return _ROLE_ARN.fullmatch(value) is not None


def bucket_arn(bucket: str, *, partition: str) -> str:
    """The ARN of an S3 bucket (S3 ARNs carry no region or account)."""
    return arn("s3", bucket, partition=partition)


def repository_arn(account: str, region: str, repository: str) -> str:
    """The ARN of an ECR repository in `region`."""
    return arn("ecr", f"repository/{repository}", partition=partition_for(region), region=region, account=account)


def ecr_host(account: str, region: str) -> str:
    """The registry host `<account>.dkr.ecr.<region>.amazonaws.com` (`.amazonaws.com.cn` in China)."""
    if not _ACCOUNT.fullmatch(account):
        raise errors.ConfigError("account", account, "is not a 12-digit AWS account id")
    return f"{account}.dkr.ecr.{region}.{DNS_SUFFIX[partition_for(region)]}"


def repository_uri(account: str, region: str, repository: str) -> str:
    """The image URI of an ECR repository, without a tag: `<ecr host>/<repository>`."""
    return f"{ecr_host(account, region)}/{repository}"


def default_bucket_name(account_id: str, region: str, app_name: str) -> str:
    """A valid, deterministic bucket name `<app_name>-<account>-<region>`, the prefix shortened to fit 63."""
    if not _ACCOUNT.fullmatch(account_id):
        raise errors.ConfigError("account_id", account_id, "is not a 12-digit AWS account id")
    suffix = f"-{account_id}-{region}"
    prefix = re.sub(r"[^a-z0-9-]", "-", app_name.lower())[: MAX_BUCKET_NAME_LENGTH - len(suffix)].strip("-")
    # S3 reserves the `xn--` and `sthree-` prefixes; a bare suffix would start with a dash.
    if not prefix or prefix.startswith(("xn--", "sthree-")):
        prefix = f"bucket-{prefix}"[: MAX_BUCKET_NAME_LENGTH - len(suffix)].strip("-")
    return prefix + suffix
