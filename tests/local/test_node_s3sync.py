"""s3sync: the node's stand-in for the serving pod's sync sidecar promotes only complete versions."""

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
