"""Tests of helpers.aws.s3 against moto: idempotent bucket creation in every partition, transfers, errors."""

from __future__ import annotations

import pathlib
from typing import Any

import boto3.session
import botocore.exceptions
import pytest
from moto.core import authorization

from helpers import errors
from helpers.aws import s3

from . import conftest


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://data/models/1/saved_model.pb", ("data", "models/1/saved_model.pb")),
        ("s3://data/", ("data", "")),
        ("s3://data", ("data", "")),
    ],
)
def test_parse_uri(uri: str, expected: tuple[str, str]) -> None:
    assert s3.parse_uri(uri) == expected


@pytest.mark.parametrize("uri", ["data/key", "https://data/key", "s3://", "s3:///key", "S3://data/key"])
def test_parse_uri_rejects(uri: str) -> None:
    with pytest.raises(errors.ConfigError, match="uri"):
        s3.parse_uri(uri)


@pytest.mark.parametrize("region", conftest.REGIONS)
def test_ensure_bucket_creates_once_with_the_right_location(mocked_aws: None, region: str) -> None:
    session = boto3.session.Session(region_name=region)
    assert s3.ensure_bucket(session=session, bucket="mnist-data", region=region) == "created"
    assert s3.ensure_bucket(session=session, bucket="mnist-data", region=region) == "exists"
    location = session.client("s3").get_bucket_location(Bucket="mnist-data")["LocationConstraint"]
    # S3 reports us-east-1 buckets with no LocationConstraint at all.
    assert location == (None if region == "us-east-1" else region)


def test_bucket_created_by_a_concurrent_run_counts_as_existing(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    conftest.create_bucket(session, "mnist-data")
    assert s3._create_bucket(session.client("s3"), bucket="mnist-data", region="us-west-2") == "exists"


@pytest.fixture
def foreign_bucket(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """A bucket that another account owns; our account then calls S3 as real S3 answers it (403)."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", conftest.OTHER_ACCOUNT)
    conftest.create_bucket(boto3.session.Session(region_name="us-west-2"), "taken-name")
    monkeypatch.delenv("MOTO_ACCOUNT_ID")
    return "taken-name"


def test_bucket_of_another_account_is_a_clear_error(foreign_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS", "false")
    session = boto3.session.Session(region_name="us-west-2")
    with pytest.raises(errors.AwsError, match="another account") as caught:
        s3.ensure_bucket(session=session, bucket=foreign_bucket, region="us-west-2")
    assert "choose another name" in str(caught.value)
    assert isinstance(caught.value.__cause__, errors.AwsError)
    assert isinstance(caught.value.__cause__.__cause__, botocore.exceptions.ClientError)


def test_name_taken_at_creation_is_a_clear_error(foreign_bucket: str) -> None:
    client = boto3.session.Session(region_name="us-west-2").client("s3")
    with pytest.raises(errors.AwsError, match="taken by another AWS account") as caught:
        s3._create_bucket(client, bucket=foreign_bucket, region="us-west-2")
    assert caught.value.code == "BucketAlreadyExists"


@pytest.fixture
def client(mocked_aws: None) -> object:
    session = boto3.session.Session(region_name="us-west-2")
    conftest.create_bucket(session, "data")
    return session.client("s3")


def _write_tree(root: pathlib.Path) -> dict[str, bytes]:
    files = {"saved_model.pb": b"graph", "variables/variables.index": b"index", "variables/deep/x.bin": b"\x00\x01"}
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    return files


def test_file_round_trip(client, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("hello")
    s3.upload_file(source, "s3://data/dir/a.txt", client=client)
    s3.download_file("s3://data/dir/a.txt", tmp_path / "out" / "b.txt", client=client)
    assert (tmp_path / "out" / "b.txt").read_text() == "hello"


def test_tree_round_trip(client, tmp_path: pathlib.Path) -> None:
    files = _write_tree(tmp_path / "model")
    assert s3.upload_tree(tmp_path / "model", "s3://data/models/1", client=client) == len(files)
    assert s3.download_tree("s3://data/models/1/", tmp_path / "copy", client=client) == len(files)
    for relative, content in files.items():
        assert (tmp_path / "copy" / relative).read_bytes() == content


def test_upload_tree_sends_completion_markers_last(client, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "export"
    _write_tree(root / "1")
    s3.write_marker(root / "1")
    (root / "metrics.json").write_text("{}")
    keys: list[str] = []
    client.meta.events.register("before-parameter-build.s3.PutObject", lambda params, **_: keys.append(params["Key"]))
    s3.upload_tree(root, "s3://data/models", client=client)
    assert keys[-1] == f"models/1/{s3.COMPLETE_MARKER}"
    assert sorted(keys[:-1]) == keys[:-1] and len(keys) == 5


def test_upload_tree_sends_a_checkpoint_pointer_after_the_checkpoint_it_names(client, tmp_path: pathlib.Path) -> None:
    """A chief killed mid-upload must not leave `checkpoint` naming ckpt-60 files that S3 lacks."""
    root = tmp_path / "run"
    root.mkdir()
    (root / "checkpoint").write_text('model_checkpoint_path: "ckpt-60"\n')
    for name in ("ckpt-60.index", "ckpt-60.data-00000-of-00001", "train/events.out.tfevents.1"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    keys: list[str] = []
    client.meta.events.register("before-parameter-build.s3.PutObject", lambda params, **_: keys.append(params["Key"]))
    s3.upload_tree(root, "s3://data/runs/1", client=client)
    assert keys[-1] == "runs/1/checkpoint" and len(keys) == 4


def test_a_version_is_complete_with_its_marker_and_every_file_it_lists(tmp_path: pathlib.Path) -> None:
    version = tmp_path / "7"
    files = _write_tree(version)
    assert not s3.is_complete(version)
    marker = s3.write_marker(version)
    assert marker.read_text().splitlines() == sorted(files)
    assert s3.is_complete(version)
    (version / "variables" / "variables.index").unlink()  # listed, yet not there (yet)
    assert not s3.is_complete(version)
    assert not s3.is_complete(tmp_path / "missing")


def test_download_tree_stays_inside_its_prefix(client, tmp_path: pathlib.Path) -> None:
    client.put_object(Bucket="data", Key="models/1/a", Body=b"a")
    client.put_object(Bucket="data", Key="models/10/b", Body=b"b")
    client.put_object(Bucket="data", Key="models/1/folder/", Body=b"")
    assert s3.download_tree("s3://data/models/1", tmp_path / "copy", client=client) == 1
    assert [p.name for p in (tmp_path / "copy").rglob("*")] == ["a"]


def test_download_tree_refuses_keys_that_escape(client, tmp_path: pathlib.Path) -> None:
    client.put_object(Bucket="data", Key="models/../../escape", Body=b"x")
    with pytest.raises(errors.ConfigError, match="outside"):
        s3.download_tree("s3://data/models/", tmp_path / "copy", client=client)
    assert not (tmp_path.parent / "escape").exists()


def test_upload_tree_needs_a_folder(client, tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError, match="local_dir"):
        s3.upload_tree(tmp_path / "missing", "s3://data/x", client=client)


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda client, tmp: s3.download_file("s3://data/missing", tmp / "x", client=client), "404"),
        (lambda client, tmp: s3.download_file("s3://nobucket/key", tmp / "x", client=client), "NoSuchBucket"),
        (lambda client, tmp: s3.upload_file(__file__, "s3://nobucket/key", client=client), "NoSuchBucket"),
        (lambda client, tmp: s3.download_tree("s3://nobucket/x", tmp, client=client), "NoSuchBucket"),
    ],
)
def test_no_library_exception_escapes(client, tmp_path: pathlib.Path, call, code: str) -> None:
    with pytest.raises(errors.AwsError) as caught:
        call(client, tmp_path)
    assert caught.value.code == code
    assert caught.value.__cause__ is not None


def test_upload_of_a_missing_file_is_a_config_error(client, tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError, match="path"):
        s3.upload_file(tmp_path / "missing", "s3://data/key", client=client)


def test_upload_and_download_need_an_object_key(client, tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError, match="names no object"):
        s3.upload_file(__file__, "s3://data/", client=client)
    with pytest.raises(errors.ConfigError, match="names no object"):
        s3.download_file("s3://data", tmp_path / "x", client=client)


def _versioned_bucket_with_history(session: boto3.session.Session, bucket: str) -> None:
    """A versioned bucket holding several versions of one key, a delete marker and another object."""
    conftest.create_bucket(session, bucket)
    client = session.client("s3")
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2", b"v3"):
        client.put_object(Bucket=bucket, Key="models/mnist/1/saved_model.pb", Body=body)
    client.delete_object(Bucket=bucket, Key="models/mnist/1/saved_model.pb")
    client.put_object(Bucket=bucket, Key="data/mnist.npz", Body=b"data")


def _bucket_names(session: boto3.session.Session) -> list[str]:
    return [bucket["Name"] for bucket in session.client("s3").list_buckets()["Buckets"]]


def test_delete_bucket_removes_every_version_then_the_bucket_and_twice_is_fine(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    _versioned_bucket_with_history(session, "mnist-data")
    conftest.create_bucket(session, "another-bucket")
    assert s3.delete_bucket(session=session, bucket="mnist-data") is True
    assert _bucket_names(session) == ["another-bucket"]
    assert s3.delete_bucket(session=session, bucket="mnist-data") is False


def test_delete_bucket_takes_more_than_one_round(mocked_aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    _versioned_bucket_with_history(session, "mnist-data")
    # Four object versions and a delete marker, two at a time: three rounds (as 1001 would take two).
    monkeypatch.setattr(s3, "DELETE_BATCH", 2)
    rounds: list[int] = []

    def count(params: dict[str, Any], **_: object) -> None:
        rounds.append(len(params["Delete"]["Objects"]))

    session.events.register("provide-client-params.s3.DeleteObjects", count)
    assert s3.delete_bucket(session=session, bucket="mnist-data") is True
    assert rounds == [2, 2, 1]
    assert _bucket_names(session) == []


def test_delete_bucket_never_empties_a_bucket_of_another_account(
    foreign_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", conftest.OTHER_ACCOUNT)
    owner = boto3.session.Session(region_name="us-west-2").client("s3")
    owner.put_object(Bucket=foreign_bucket, Key="theirs", Body=b"x")
    monkeypatch.delenv("MOTO_ACCOUNT_ID")
    monkeypatch.setenv("MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS", "false")
    with pytest.raises(errors.AwsError) as caught:
        s3.delete_bucket(session=boto3.session.Session(region_name="us-west-2"), bucket=foreign_bucket)
    assert caught.value.code == "AccessDenied"
    assert isinstance(caught.value.__cause__, botocore.exceptions.ClientError)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", conftest.OTHER_ACCOUNT)
    assert owner.get_object(Bucket=foreign_bucket, Key="theirs")["Body"].read() == b"x"


def test_delete_bucket_refused_keeps_the_objects(make_restricted_session) -> None:
    admin = boto3.session.Session(region_name="us-west-2")
    _versioned_bucket_with_history(admin, "mnist-data")
    listing_only = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketVersions"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"},
        ],
    }
    restricted = make_restricted_session(listing_only, "us-west-2")
    with authorization.enable_iam_authentication(), pytest.raises(errors.AwsError) as caught:
        s3.delete_bucket(session=restricted, bucket="mnist-data", owner=conftest.ACCOUNT)
    assert caught.value.operation == "DeleteObjects" and caught.value.permission
    assert admin.client("s3").get_object(Bucket="mnist-data", Key="data/mnist.npz")["Body"].read() == b"data"
