"""Translate botocore and boto3 failures into `AwsError`, naming the IAM action that was refused.

Every AWS call in `helpers.aws` runs inside `translated(...)`, so no library exception
escapes the package and an AccessDenied always says which permission to ask for.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Iterator

import boto3.exceptions
import botocore.exceptions

from helpers import errors

logger = logging.getLogger(__name__)

# Error codes that mean "the caller lacks a permission" across S3 (HEAD gives a bare 403), ECR and IAM.
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "403", "Forbidden", "UnauthorizedOperation"})

# API operations whose IAM action is not "<service>:<operation>".
_ACTION_OF_OPERATION = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "DeleteObjects"): "s3:DeleteObjectVersion",
}
# AWS often names the refused action itself: "... is not authorized to perform: ecr:CreateRepository on ...".
_ACTION_IN_MESSAGE = re.compile(r"perform: ([a-z0-9-]+:[A-Za-z0-9*]+)")
# boto3's transfer manager reports a failed upload only as text: "... (AccessDenied) when calling the PutObject ...".
_CLIENT_ERROR_TEXT = re.compile(r"An error occurred \(([^)]+)\) when calling the (\w+) operation")


def iam_action(service: str, operation: str) -> str:
    """The IAM action that authorizes API `operation` of `service` (e.g. s3 ListBuckets -> s3:ListAllMyBuckets)."""
    return _ACTION_OF_OPERATION.get((service, operation), f"{service}:{operation}")


def from_client_error(error: botocore.exceptions.ClientError, *, service: str) -> errors.AwsError:
    """The AwsError for a botocore ClientError; names the permission when the code is an access denial."""
    details = error.response.get("Error", {})
    code = str(details.get("Code") or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown"))
    message = str(details.get("Message") or error)
    return _build(service, error.operation_name, code, message)


def _build(service: str, operation: str, code: str, message: str) -> errors.AwsError:
    permission = None
    if code in ACCESS_DENIED_CODES:
        named = _ACTION_IN_MESSAGE.search(message)
        permission = named.group(1) if named else iam_action(service, operation)
    return errors.AwsError(operation, code, message, permission=permission)


@contextlib.contextmanager
def translated(service: str, operation: str) -> Iterator[None]:
    """Run AWS calls for `operation` of `service`; raises AwsError `from` any botocore or boto3 failure.

    `operation` names the call in errors that carry no operation of their own (no credentials,
    no connection, a failed transfer).
    """
    try:
        yield
    except botocore.exceptions.ClientError as e:
        raise from_client_error(e, service=service) from e
    except botocore.exceptions.NoCredentialsError as e:
        raise errors.AwsError(
            operation, "NoCredentials", f"{e}; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the aws_profile setting"
        ) from e
    except botocore.exceptions.BotoCoreError as e:
        raise errors.AwsError(operation, type(e).__name__, str(e)) from e
    except boto3.exceptions.Boto3Error as e:
        found = _CLIENT_ERROR_TEXT.search(str(e))
        if found:
            raise _build(service, found.group(2), found.group(1), str(e)) from e
        raise errors.AwsError(operation, type(e).__name__, str(e)) from e


@dataclasses.dataclass
class Deletion:
    """What `deleting` saw: `already_gone` is True when AWS answered that the object was not there."""

    already_gone: bool = False


@contextlib.contextmanager
def deleting(what: str, *, not_found: str) -> Iterator[Deletion]:
    """Run the calls that delete `what`, where AWS's `not_found` code means it is already gone: done, not a failure.

    That AwsError is logged and swallowed and the yielded Deletion's `already_gone` is set, so a clean-up
    run twice succeeds twice; any other AwsError is raised.
    """
    deletion = Deletion()
    try:
        yield deletion
    except errors.AwsError as e:
        if e.code != not_found:
            raise
        logger.info("%s is already gone", what)
        deletion.already_gone = True
