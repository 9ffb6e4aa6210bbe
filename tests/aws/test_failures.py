"""Tests of helpers.aws.failures: library errors become AwsError naming the refused IAM action."""

from __future__ import annotations

import boto3.exceptions
import botocore.exceptions
import pytest

from helpers import errors
from helpers.aws import failures


def _client_error(code: str, message: str, operation: str, *, status: int = 400) -> botocore.exceptions.ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, operation)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("service", "operation", "action"),
    [
        ("s3", "ListBuckets", "s3:ListAllMyBuckets"),
        ("s3", "HeadBucket", "s3:ListBucket"),
        ("s3", "ListObjectsV2", "s3:ListBucket"),
        ("s3", "HeadObject", "s3:GetObject"),
        ("s3", "PutObject", "s3:PutObject"),
        ("s3", "CreateMultipartUpload", "s3:PutObject"),
        ("ecr", "DescribeRepositories", "ecr:DescribeRepositories"),
        ("iam", "CreatePolicyVersion", "iam:CreatePolicyVersion"),
    ],
)
def test_iam_action(service: str, operation: str, action: str) -> None:
    assert failures.iam_action(service, operation) == action


@pytest.mark.parametrize(
    ("error", "service", "permission"),
    [
        (_client_error("AccessDenied", "Access Denied", "ListBuckets", status=403), "s3", "s3:ListAllMyBuckets"),
        (_client_error("403", "Forbidden", "HeadBucket", status=403), "s3", "s3:ListBucket"),
        (
            _client_error(
                "AccessDeniedException",
                "User: arn:aws:iam::123456789012:user/x is not authorized to perform: ecr:CreateRepository on "
                "resource: arn:aws:ecr:us-west-2:123456789012:repository/a",
                "CreateRepository",
            ),
            "ecr",
            "ecr:CreateRepository",
        ),
        (_client_error("NoSuchBucket", "The specified bucket does not exist", "PutObject", status=404), "s3", None),
    ],
)
def test_from_client_error_names_the_permission_only_for_refusals(
    error: botocore.exceptions.ClientError, service: str, permission: str | None
) -> None:
    translated = failures.from_client_error(error, service=service)
    assert translated.permission == permission
    assert translated.operation == error.operation_name
    assert translated.code == error.response["Error"]["Code"]
    if permission:
        assert f"missing permission: {permission}" in str(translated)


def test_head_error_without_code_uses_the_http_status() -> None:
    error = botocore.exceptions.ClientError({"ResponseMetadata": {"HTTPStatusCode": 403}}, "HeadBucket")
    translated = failures.from_client_error(error, service="s3")
    assert translated.code == "403"
    assert translated.permission == "s3:ListBucket"


@pytest.mark.parametrize(
    ("raised", "code", "permission"),
    [
        (botocore.exceptions.NoCredentialsError(), "NoCredentials", None),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="https://s3.example"),
            "EndpointConnectionError",
            None,
        ),
        (
            boto3.exceptions.S3UploadFailedError(
                "Failed to upload a to b/k: An error occurred (AccessDenied) when calling the PutObject operation: no"
            ),
            "AccessDenied",
            "s3:PutObject",
        ),
        (boto3.exceptions.RetriesExceededError(last_exception=None), "RetriesExceededError", None),
    ],
)
def test_translated_turns_every_library_error_into_aws_error(
    raised: Exception, code: str, permission: str | None
) -> None:
    with pytest.raises(errors.AwsError) as caught, failures.translated("s3", "PutObject"):
        raise raised
    assert caught.value.code == code
    assert caught.value.permission == permission
    assert caught.value.__cause__ is raised


def test_translated_lets_other_errors_through() -> None:
    with pytest.raises(KeyError), failures.translated("s3", "PutObject"):
        raise KeyError("not an AWS failure")


def test_deleting_counts_not_found_as_already_gone(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    with failures.deleting("bucket b", not_found="NoSuchBucket") as deletion:
        raise errors.AwsError("DeleteBucket", "NoSuchBucket", "The specified bucket does not exist")
    assert deletion.already_gone
    assert "bucket b is already gone" in caplog.text


def test_deleting_raises_every_other_error() -> None:
    with pytest.raises(errors.AwsError, match="AccessDenied"), failures.deleting("bucket b", not_found="NoSuchBucket"):
        raise errors.AwsError("DeleteBucket", "AccessDenied", "Access Denied", permission="s3:DeleteBucket")


def test_deleting_without_error_is_not_gone() -> None:
    with failures.deleting("bucket b", not_found="NoSuchBucket") as deletion:
        pass
    assert not deletion.already_gone
