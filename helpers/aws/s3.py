"""S3: create (and, on request, delete) the bucket idempotently; move files to and from `s3://` URIs.

The bucket holds data, build contexts, checkpoints and models. Re-running notebook 01 must
report "exists" rather than fail, and a name taken by another account must say so plainly
(the upstream example swallowed that error). A model version is complete once its
`COMPLETE_MARKER` is there: uploads write it last, and serving promotes only complete versions.
"""

from __future__ import annotations

import logging
import pathlib
from typing import TYPE_CHECKING, Any, Literal

import boto3.session

from helpers import errors
from helpers.aws import failures, identity

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

logger = logging.getLogger(__name__)

SCHEME = "s3://"
# The one region where CreateBucket must not carry a LocationConstraint.
NO_LOCATION_CONSTRAINT_REGION = "us-east-1"
# Object versions listed and deleted per round: the most one DeleteObjects call accepts.
DELETE_BATCH = 1000
# Written last into a model version folder, listing the folder's other files one relative path a line:
# the serving pod's sync sidecar (manifests/serving.yaml) and the local model server take a version
# only when it is there and every file it lists is, so a half-uploaded version is never served.
COMPLETE_MARKER = "_COMPLETE"
# Files that name others, uploaded after everything else in a tree: the version marker above, and
# TensorFlow's `checkpoint` pointer, so a chief killed mid-upload never leaves a pointer to a
# checkpoint whose files are not in S3 (its restart would fail to restore, again and again).
POINTER_FILES = (COMPLETE_MARKER, "checkpoint")


def parse_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into (bucket, key); the key may be empty. Raises ConfigError otherwise."""
    if not uri.startswith(SCHEME):
        raise errors.ConfigError("uri", uri, "is not an s3:// URI (s3://bucket/key)")
    bucket, _, key = uri[len(SCHEME) :].partition("/")
    if not bucket:
        raise errors.ConfigError("uri", uri, "names no bucket (s3://bucket/key)")
    return bucket, key


def _object_key(uri: str) -> tuple[str, str]:
    bucket, key = parse_uri(uri)
    if not key or key.endswith("/"):
        raise errors.ConfigError("uri", uri, "names no object: give s3://bucket/key")
    return bucket, key


def _prefix(key: str) -> str:
    """A folder prefix ending in "/", so that "models" does not also match "models-old"."""
    return key if not key or key.endswith("/") else key + "/"


def ensure_bucket(
    *, session: boto3.session.Session, bucket: str, region: str, owner: str = ""
) -> Literal["created", "exists"]:
    """Create `bucket` in `region` unless this account already owns it; returns "created" or "exists".

    `owner` is the expected account id (looked up with STS when empty). Raises AwsError when the
    name belongs to another account, suggesting another name, or for any other refusal.
    """
    owner = owner or identity.caller_identity(session=session).account
    client = session.client("s3", region_name=region)
    try:
        # ExpectedBucketOwner makes S3 answer 403 for a bucket of another account, even a public one.
        with failures.translated("s3", "HeadBucket"):
            client.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
    except errors.AwsError as e:
        if e.code in {"404", "NoSuchBucket", "NotFound"}:
            return _create_bucket(client, bucket=bucket, region=region)
        if e.permission:
            raise _taken(
                bucket,
                "HeadBucket",
                e.code,
                "it exists and belongs to another account (or s3:ListBucket on it is missing)",
            ) from e
        raise
    logger.info("bucket %s already exists in this account", bucket)
    return "exists"


def _create_bucket(client: S3Client, *, bucket: str, region: str) -> Literal["created", "exists"]:
    arguments: dict[str, Any] = {"Bucket": bucket}
    if region != NO_LOCATION_CONSTRAINT_REGION:
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        with failures.translated("s3", "CreateBucket"):
            client.create_bucket(**arguments)
    except errors.AwsError as e:
        # Another run created it between our HeadBucket and CreateBucket: that is success.
        if e.code == "BucketAlreadyOwnedByYou":
            return "exists"
        if e.code == "BucketAlreadyExists":
            raise _taken(bucket, "CreateBucket", e.code, "the name is taken by another AWS account") from e
        raise
    logger.info("created bucket %s in %s", bucket, region)
    return "created"


def _taken(bucket: str, operation: str, code: str, why: str) -> errors.AwsError:
    return errors.AwsError(
        operation,
        code,
        f"bucket {bucket!r}: {why}. Bucket names are global across all "
        "accounts: choose another name with the `bucket` parameter, or leave it empty for the default "
        "<app_name>-<account>-<region>",
    )


def upload_file(path: pathlib.Path | str, uri: str, *, client: S3Client) -> None:
    """Upload one local file to `s3://bucket/key`; returns None. Raises AwsError, or ConfigError for a bad
    URI or a missing file."""
    bucket, key = _object_key(uri)
    if not pathlib.Path(path).is_file():
        raise errors.ConfigError("path", str(path), "is not a file")
    with failures.translated("s3", "PutObject"):
        client.upload_file(str(path), bucket, key)


def download_file(uri: str, path: pathlib.Path | str, *, client: S3Client) -> None:
    """Download `s3://bucket/key` to a local file, creating its folder; returns None. Raises AwsError."""
    bucket, key = _object_key(uri)
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    with failures.translated("s3", "GetObject"):
        client.download_file(bucket, key, str(path))


def write_marker(folder: pathlib.Path) -> pathlib.Path:
    """Write `folder`'s COMPLETE_MARKER listing every other file under it; returns the marker's path.

    Call it once the version's files are all written; it replaces an older marker.
    """
    listed = sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.name != COMPLETE_MARKER
    )
    marker = folder / COMPLETE_MARKER
    marker.write_text("".join(f"{name}\n" for name in listed))
    return marker


def is_complete(folder: pathlib.Path) -> bool:
    """True when `folder` holds its COMPLETE_MARKER and every file the marker lists."""
    try:
        listed = (folder / COMPLETE_MARKER).read_text().splitlines()
    except OSError:
        return False
    return all((folder / name).is_file() for name in listed if name)


def upload_tree(local_dir: pathlib.Path | str, uri: str, *, client: S3Client) -> int:
    """Upload every file under `local_dir` to keys under the `uri` prefix; returns how many were uploaded.

    POINTER_FILES go after all the others, so a version's marker or a checkpoint pointer is in S3 only
    once every file it names is. Raises AwsError (the upload stops at the first refusal) or ConfigError.
    """
    root = pathlib.Path(local_dir)
    if not root.is_dir():
        raise errors.ConfigError("local_dir", str(local_dir), "is not a folder")
    bucket, key = parse_uri(uri)
    prefix = _prefix(key)
    files = sorted(
        (path for path in root.rglob("*") if path.is_file()),
        key=lambda path: (path.name in POINTER_FILES, path.as_posix()),
    )
    for path in files:
        upload_file(path, f"{SCHEME}{bucket}/{prefix}{path.relative_to(root).as_posix()}", client=client)
    return len(files)


def download_tree(uri: str, local_dir: pathlib.Path | str, *, client: S3Client, only_changed: bool = False) -> int:
    """Download every object under the `uri` prefix into `local_dir`; returns how many were downloaded.

    `only_changed` skips an object whose local copy has its size, as `aws s3 sync` does (which also
    compares times): a mirror polled every few seconds fetches only what grew or is new.
    Raises AwsError, or ConfigError for a key that would land outside `local_dir`.
    """
    root = pathlib.Path(local_dir).resolve()
    bucket, key = parse_uri(uri)
    prefix = _prefix(key)
    count = 0
    with failures.translated("s3", "ListObjectsV2"):
        pages = list(client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix))
    for page in pages:
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if not relative or relative.endswith("/"):
                continue  # folder markers made by consoles hold no data
            target = (root / relative).resolve()
            if not target.is_relative_to(root):
                raise errors.ConfigError("uri", f"{SCHEME}{bucket}/{item['Key']}", f"would be written outside {root}")
            if only_changed and target.is_file() and target.stat().st_size == item["Size"]:
                continue
            download_file(f"{SCHEME}{bucket}/{item['Key']}", target, client=client)
            count += 1
    return count


def delete_bucket(*, session: boto3.session.Session, bucket: str, owner: str = "") -> bool:
    """Delete every object version and delete marker in `bucket`, then the bucket itself.

    Returns True when the bucket was deleted, False when it was already gone. `owner` is the
    expected account id (looked up with STS when empty), so a bucket of the same name in another
    account is never emptied. Raises AwsError for any refusal, including keys that DeleteObjects
    reports it could not delete.
    """
    owner = owner or identity.caller_identity(session=session).account
    client = session.client("s3")
    with failures.deleting(f"bucket {bucket}", not_found="NoSuchBucket") as deletion:
        count = _delete_all_versions(client, bucket=bucket, owner=owner)
        with failures.translated("s3", "DeleteBucket"):
            client.delete_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
        logger.info("deleted bucket %s and %d object versions in it", bucket, count)
    return not deletion.already_gone


def _delete_all_versions(client: S3Client, *, bucket: str, owner: str) -> int:
    """Delete object versions and delete markers a page at a time until none is left; returns how many."""
    count = 0
    while True:
        # Always the first page: what was deleted is gone from it, so no paging markers are needed.
        with failures.translated("s3", "ListObjectVersions"):
            page = client.list_object_versions(Bucket=bucket, MaxKeys=DELETE_BATCH, ExpectedBucketOwner=owner)
        entries = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        if not entries:
            return count
        doomed: list[ObjectIdentifierTypeDef] = [
            {"Key": entry["Key"], "VersionId": entry["VersionId"]} for entry in entries
        ]
        with failures.translated("s3", "DeleteObjects"):
            answer = client.delete_objects(
                Bucket=bucket, Delete={"Objects": doomed, "Quiet": True}, ExpectedBucketOwner=owner
            )
        refused = answer.get("Errors", [])
        if refused:
            first = refused[0]
            code = str(first.get("Code", "Unknown"))
            raise errors.AwsError(
                "DeleteObjects",
                code,
                f"{len(refused)} of {len(doomed)} objects in {bucket!r} were not deleted, first {first.get('Key')!r}:"
                f" {first.get('Message', 'no message')}",
                permission="s3:DeleteObjectVersion" if code in failures.ACCESS_DENIED_CODES else None,
            )
        count += len(doomed)
