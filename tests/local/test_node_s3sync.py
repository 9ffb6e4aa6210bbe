"""s3sync: the node's stand-in for the sync sidecars: whole versions for serving, a mirror for TensorBoard."""

from __future__ import annotations

import pathlib

import boto3
import pytest

from helpers.aws import s3
from helpers.local.node import s3sync
from tests.aws import conftest as aws_fixtures

aws_environment = aws_fixtures.aws_environment
mocked_aws = aws_fixtures.mocked_aws
BUCKET = "mnist-sync-test"


@pytest.mark.usefixtures("mocked_aws")
def test_a_version_is_synced_only_once_its_upload_completed(tmp_path: pathlib.Path) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    aws_fixtures.create_bucket(session, BUCKET)
    client = session.client("s3")
    version = tmp_path / "upload" / "1"
    (version / "variables").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"graph")
    (version / "variables" / "variables.index").write_bytes(b"index")
    # Half way: the graph is up, the marker is not.
    client.upload_file(str(version / "saved_model.pb"), BUCKET, "models/mnist/1/saved_model.pb")
    target = tmp_path / "served"
    assert s3sync.sync_once(f"s3://{BUCKET}/models/mnist", target, client=client) == []
    assert sorted(path.name for path in target.iterdir()) == []
    s3.write_marker(version)
    s3.upload_tree(version, f"s3://{BUCKET}/models/mnist/1", client=client)
    assert s3sync.sync_once(f"s3://{BUCKET}/models/mnist", target, client=client) == ["1"]
    assert s3.is_complete(target / "1")


@pytest.mark.usefixtures("mocked_aws")
def test_a_mirror_fetches_new_and_grown_files_only(tmp_path: pathlib.Path) -> None:
    """TensorBoard's sidecar: event files appear and grow while training writes them."""
    session = boto3.session.Session(region_name="us-west-2")
    aws_fixtures.create_bucket(session, BUCKET)
    client = session.client("s3")
    client.put_object(Bucket=BUCKET, Key="runs/1/train/events.1", Body=b"step 20")
    target = tmp_path / "logs"
    assert s3.download_tree(f"s3://{BUCKET}/runs/1", target, client=client, only_changed=True) == 1
    assert s3.download_tree(f"s3://{BUCKET}/runs/1", target, client=client, only_changed=True) == 0
    client.put_object(Bucket=BUCKET, Key="runs/1/train/events.1", Body=b"step 20 step 40")
    client.put_object(Bucket=BUCKET, Key="runs/1/eval/events.2", Body=b"eval")
    assert s3.download_tree(f"s3://{BUCKET}/runs/1", target, client=client, only_changed=True) == 2
    assert (target / "train" / "events.1").read_bytes() == b"step 20 step 40"
