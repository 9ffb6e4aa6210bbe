"""IAM: the two policies of the series, and keeping the pods' one current and attached to a role.

The pods' policy (manifests/iam-policy.json) replaces the upstream example's AmazonS3FullAccess /
AmazonEC2ContainerRegistryFullAccess: exactly what the pods call, on one bucket and the series'
repositories. The notebook's own identity needs more (creating the bucket, the repositories and the
pods' policy, describing images, clean-up): manifests/notebook-iam-policy.json documents that, for an
administrator to grant; the pods' policy is never widened to make the notebook work.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import boto3.session

from helpers import errors, manifests
from helpers.aws import failures, identity, partition as partition_module

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

logger = logging.getLogger(__name__)

POLICY_TEMPLATE = manifests.MANIFESTS_DIR / "iam-policy.json"
NOTEBOOK_POLICY_TEMPLATE = manifests.MANIFESTS_DIR / "notebook-iam-policy.json"
# The notebook policy's statements about the role the pods' policy is attached to; left out without one.
ROLE_STATEMENTS = frozenset({"SeeTheRolesPolicies", "AttachOnlyThePodsPolicyToTheRole"})
# IAM keeps at most 5 versions of a managed policy; a 6th needs an old one deleted first.
MAX_POLICY_VERSIONS = 5
_REPOSITORY_ARN = re.compile(r"arn:aws(-cn|-us-gov)?:ecr:[a-z0-9-]+:[0-9]{12}:repository/[a-z0-9._/-]+")
_POLICY_ARN = re.compile(r"arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:policy/[\w+=,.@-]{1,128}")


@dataclasses.dataclass(frozen=True)
class PolicyInfo:
    """A managed policy: its ARN and what this call did ("created", "updated" to a new version, or "exists")."""

    arn: str
    status: Literal["created", "updated", "exists"]


def policy_document(*, partition: str, bucket: str, repository_arns: Sequence[str]) -> dict[str, Any]:
    """The policy granting access to `bucket` and the given repositories only (the training and
    the web UI image); raises ConfigError for a bad name."""
    # The values are pasted into JSON text, so each is checked to hold nothing but its own kind of name.
    if partition not in partition_module.DNS_SUFFIX:
        raise errors.ConfigError("partition", partition, f"is not one of {sorted(partition_module.DNS_SUFFIX)}")
    if not partition_module.is_bucket_name(bucket):
        raise errors.ConfigError("bucket", bucket, "is not a valid S3 bucket name")
    if not repository_arns:
        raise errors.ConfigError("repository_arn", repository_arns, "at least one repository is needed")
    for repository_arn in repository_arns:
        if not _REPOSITORY_ARN.fullmatch(repository_arn):
            raise errors.ConfigError("repository_arn", repository_arn, "is not an ECR repository ARN")
    values = {"partition": partition, "bucket": bucket, "repository_arns": json.dumps(sorted(repository_arns))}
    document: dict[str, Any] = json.loads(
        manifests.render_text(POLICY_TEMPLATE.read_text(), values, source=POLICY_TEMPLATE.name)
    )
    return document


def notebook_policy_document(
    *, partition: str, bucket: str, repository_arns: Sequence[str], pods_policy_arn: str, role_arn: str = ""
) -> dict[str, Any]:
    """The policy the notebook's own identity needs for 01-06 and clean-up, on this bucket, these repositories,
    the pods' policy and (when given) the role it is attached to; raises ConfigError for a bad name.

    Without `role_arn` the statements about attaching the pods' policy are left out.
    """
    # The pods' document checks partition, bucket and repositories the same way.
    policy_document(partition=partition, bucket=bucket, repository_arns=repository_arns)
    if not _POLICY_ARN.fullmatch(pods_policy_arn):
        raise errors.ConfigError("pods_policy_arn", pods_policy_arn, "is not an IAM policy ARN")
    if role_arn and not partition_module.is_role_arn(role_arn):
        raise errors.ConfigError("role_arn", role_arn, "is not an IAM role ARN")
    values = {
        "partition": partition,
        "bucket": bucket,
        "repository_arns": json.dumps(sorted(repository_arns)),
        "pods_policy_arn": pods_policy_arn,
        "role_arn": role_arn or "none",
    }
    source = NOTEBOOK_POLICY_TEMPLATE
    document: dict[str, Any] = json.loads(manifests.render_text(source.read_text(), values, source=source.name))
    if not role_arn:
        document["Statement"] = [item for item in document["Statement"] if item["Sid"] not in ROLE_STATEMENTS]
    return document


def ensure_policy(*, session: boto3.session.Session, name: str, document: dict[str, Any]) -> PolicyInfo:
    """Create managed policy `name`, or make `document` its default version when it changed.

    When IAM's 5 versions are used up, the oldest non-default one is deleted. Raises AwsError.
    """
    caller = identity.caller_identity(session=session)
    policy_arn = partition_module.arn("iam", f"policy/{name}", partition=caller.partition, account=caller.account)
    client = session.client("iam")
    try:
        with failures.translated("iam", "GetPolicy"):
            default_version = client.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    except errors.AwsError as e:
        if e.code != "NoSuchEntity":
            raise
        return _create(client, name=name, document=document)
    with failures.translated("iam", "GetPolicyVersion"):
        current = client.get_policy_version(PolicyArn=policy_arn, VersionId=default_version)["PolicyVersion"]
    if _normalized(current["Document"]) == _normalized(document):
        return PolicyInfo(arn=policy_arn, status="exists")
    _make_room(client, policy_arn)
    with failures.translated("iam", "CreatePolicyVersion"):
        client.create_policy_version(PolicyArn=policy_arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
    logger.info("updated policy %s to a new default version", policy_arn)
    return PolicyInfo(arn=policy_arn, status="updated")


def _create(client: IAMClient, *, name: str, document: dict[str, Any]) -> PolicyInfo:
    with failures.translated("iam", "CreatePolicy"):
        created = client.create_policy(
            PolicyName=name,
            PolicyDocument=json.dumps(document),
            Description="Least privilege for the kubeflow-mnist bucket and ECR repository",
        )["Policy"]
    logger.info("created policy %s", created["Arn"])
    return PolicyInfo(arn=created["Arn"], status="created")


def _normalized(document: object) -> object:
    """A document in a comparable form: IAM may return it as a dict or as JSON text."""
    parsed = json.loads(document) if isinstance(document, str) else document
    return json.loads(json.dumps(parsed, sort_keys=True))


def _make_room(client: IAMClient, policy_arn: str) -> None:
    with failures.translated("iam", "ListPolicyVersions"):
        versions = client.list_policy_versions(PolicyArn=policy_arn)["Versions"]
    if len(versions) < MAX_POLICY_VERSIONS:
        return
    oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
    with failures.translated("iam", "DeletePolicyVersion"):
        client.delete_policy_version(PolicyArn=policy_arn, VersionId=oldest["VersionId"])
    logger.info("deleted version %s of %s to stay within IAM's 5 versions", oldest["VersionId"], policy_arn)


def attach_role_policy(
    *, session: boto3.session.Session, role_name: str, policy_arn: str
) -> Literal["attached", "exists"]:
    """Attach the policy to role `role_name` unless it already is; raises AwsError (e.g. NoSuchEntity)."""
    client = session.client("iam")
    with failures.translated("iam", "ListAttachedRolePolicies"):
        pages = client.get_paginator("list_attached_role_policies").paginate(RoleName=role_name)
        attached = {policy["PolicyArn"] for page in pages for policy in page["AttachedPolicies"]}
    if policy_arn in attached:
        return "exists"
    with failures.translated("iam", "AttachRolePolicy"):
        client.attach_role_policy(RoleName=role_name, PolicyArn=policy_arn)
    logger.info("attached %s to role %s", policy_arn, role_name)
    return "attached"


def role_name_of(role_arn: str) -> str:
    """The role name in a role ARN (`arn:aws:iam::123456789012:role/path/NAME` -> `NAME`)."""
    resource = role_arn.split(":", 5)[-1]
    if not resource.startswith("role/"):
        raise errors.ConfigError("role_arn", role_arn, "is not an IAM role ARN")
    return resource.rsplit("/", 1)[-1]
