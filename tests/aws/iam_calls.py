"""What IAM authorizes for an AWS call: record the boto3 calls code makes, name the IAM action and
resource each needs, and check them against a policy document.

Operation names come from botocore's service model (the event's `model.name`); the action is
`<service>:<Operation>` except where S3 names it otherwise (the table below, after S3's "Actions,
resources and condition keys" page). Policies are evaluated the simple way our documents need:
Allow statements only, `*`/`?` wildcards, and the ArnEquals/ArnLike/StringEquals conditions.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable
from typing import Any

import boto3.session
import botocore.model
import botocore.session

# S3 operations whose IAM action is not `s3:<Operation>`.
S3_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "HeadObject": "s3:GetObject",
    "ListBuckets": "s3:ListAllMyBuckets",
    "ListObjectVersions": "s3:ListBucketVersions",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
}
# Calls IAM never refuses.
NEEDS_NO_PERMISSION = {("sts", "GetCallerIdentity")}


@dataclasses.dataclass(frozen=True)
class Call:
    """One API call: the service's signing name, the operation (botocore's name) and its parameters."""

    service: str
    operation: str
    params: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Request:
    """What IAM decides on: an action on a resource, with the condition keys the call carries."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    why: str = ""


class Recorder:
    """Records every call made through the sessions it is attached to (before the call is sent)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def attach(self, session: boto3.session.Session) -> boto3.session.Session:
        """Record the calls of every client made from `session` from now on; returns the session."""
        session.events.register("before-parameter-build", self._record)
        return session

    def _record(self, params: dict[str, Any], model: botocore.model.OperationModel, **_: Any) -> None:
        self.calls.append(Call(model.service_model.signing_name, model.name, dict(params)))


def operation_exists(service: str, operation: str) -> bool:
    """True when botocore's model of `service` has `operation` (so a table names real API calls)."""
    model = botocore.session.get_session().get_service_model(service)
    return operation in model.operation_names


def requests(call: Call, *, partition: str, region: str, account: str) -> list[Request]:
    """The IAM requests `call` makes (none for calls IAM never refuses)."""
    if (call.service, call.operation) in NEEDS_NO_PERMISSION:
        return []
    params, why = call.params, f"{call.service} {call.operation}"
    if call.service == "s3":
        return _s3_requests(call, partition=partition, why=why)
    action = f"{call.service}:{call.operation}"
    if call.service == "ecr":
        names = params.get("repositoryNames") or ([params["repositoryName"]] if "repositoryName" in params else [])
        resources = [f"arn:{partition}:ecr:{region}:{account}:repository/{name}" for name in names] or ["*"]
        return [Request(action, resource, why=why) for resource in resources]
    if call.service == "iam":
        context: tuple[tuple[str, str], ...] = ()
        if "RoleName" in params:
            resource = f"arn:{partition}:iam::{account}:role/{params['RoleName']}"
            if "PolicyArn" in params:
                context = (("iam:PolicyARN", params["PolicyArn"]),)
        elif "PolicyArn" in params:
            resource = params["PolicyArn"]
        elif call.operation == "CreatePolicy":
            resource = f"arn:{partition}:iam::{account}:policy/{params['PolicyName']}"
        else:
            resource = "*"
        return [Request(action, resource, context, why=why)]
    raise AssertionError(f"no IAM mapping for {why}")


def _s3_requests(call: Call, *, partition: str, why: str) -> list[Request]:
    params = call.params
    if call.operation == "ListBuckets":
        return [Request("s3:ListAllMyBuckets", "*", why=why)]
    bucket = f"arn:{partition}:s3:::{params['Bucket']}"
    if call.operation == "DeleteObjects":
        return [
            Request(
                "s3:DeleteObjectVersion" if item.get("VersionId") else "s3:DeleteObject",
                f"{bucket}/{item['Key']}",
                why=why,
            )
            for item in params["Delete"]["Objects"]
        ]
    action = S3_ACTIONS.get(call.operation, f"s3:{call.operation}")
    if params.get("VersionId") and action in ("s3:GetObject", "s3:DeleteObject"):
        action += "Version"
    resource = f"{bucket}/{params['Key']}" if "Key" in params else bucket
    return [Request(action, resource, why=why)]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _conditions_hold(statement: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in (statement.get("Condition") or {}).items():
        for key, expected in tests.items():
            actual = context.get(key)
            if actual is None:
                return False
            if operator in ("ArnEquals", "StringEquals"):
                if actual not in _listed(expected):
                    return False
            elif operator == "ArnLike":
                if not any(fnmatch.fnmatchcase(actual, pattern) for pattern in _listed(expected)):
                    return False
            else:
                raise AssertionError(f"condition operator {operator} is not evaluated here")
    return True


def allows(document: dict[str, Any], request: Request) -> bool:
    """True when an Allow statement of `document` grants `request`; the documents have no Deny."""
    assert all(statement["Effect"] == "Allow" for statement in document["Statement"])
    for statement in document["Statement"]:
        actions = [action.lower() for action in _listed(statement["Action"])]
        if not any(fnmatch.fnmatchcase(request.action.lower(), action) for action in actions):
            continue
        if not any(fnmatch.fnmatchcase(request.resource, pattern) for pattern in _listed(statement["Resource"])):
            continue
        if _conditions_hold(statement, dict(request.context)):
            return True
    return False


def unused_grants(document: dict[str, Any], made: Iterable[Request]) -> list[tuple[str, str, str]]:
    """(Sid, action, resource pattern) of each grant that no request in `made` uses."""
    made = list(made)
    unused = []
    for statement in document["Statement"]:
        for action in _listed(statement["Action"]):
            for pattern in _listed(statement["Resource"]):
                used = any(
                    request.action.lower() == action.lower() and fnmatch.fnmatchcase(request.resource, pattern)
                    for request in made
                )
                if not used:
                    unused.append((statement.get("Sid", ""), action, pattern))
    return unused
