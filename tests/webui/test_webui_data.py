"""Reading the test set: local .npz or s3://, shape checks, lazy loading, clear failures."""

from __future__ import annotations

import io
import pathlib

import boto3
import moto
import numpy as np
import pytest
from webui_testing import make_digits

from webui import data, errors


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """`arrays` saved as an .npz in memory."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_local_npz_loads(digits_path: pathlib.Path) -> None:
    test_set = data.load(str(digits_path))
    images, labels = make_digits()
    assert len(test_set) == len(labels)
    assert np.array_equal(test_set.images, images) and np.array_equal(test_set.labels, labels)


def test_s3_npz_loads_with_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    images, labels = make_digits()
    with moto.mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="mnist-data", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        s3.put_object(Bucket="mnist-data", Key="data/mnist-test.npz", Body=npz_bytes(x_test=images, y_test=labels))
        assert len(data.load("s3://mnist-data/data/mnist-test.npz")) == len(labels)
        with pytest.raises(errors.DataUnavailable, match="NoSuchKey") as caught:
            data.load("s3://mnist-data/data/missing.npz")
    assert caught.value.__cause__ is not None  # the botocore error, kept for the log, never shown raw


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip", "not an .npz"),
        (npz_bytes(x_train=np.zeros((1, 28, 28), np.uint8)), "not an .npz"),
        (npz_bytes(x_test=np.zeros((2, 28, 28), np.float32), y_test=np.zeros(2, np.uint8)), "uint8 \\[N, 28, 28\\]"),
        (npz_bytes(x_test=np.zeros((2, 32, 32), np.uint8), y_test=np.zeros(2, np.uint8)), "uint8 \\[N, 28, 28\\]"),
        (npz_bytes(x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(3, np.uint8)), "one label per image"),
        (npz_bytes(x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, np.uint8)), "one label per image"),
    ],
)
def test_bad_files_are_refused(content: bytes, message: str) -> None:
    with pytest.raises(errors.DataUnavailable, match=message):
        data.parse(content, source="test.npz")


@pytest.mark.parametrize(
    ("path", "message"),
    [("", "WEBUI_DATA_PATH"), ("/nonexistent/mnist.npz", "No such file"), ("s3://bucket-only", "s3://bucket/key")],
)
def test_unreadable_paths_are_refused(path: str, message: str) -> None:
    with pytest.raises(errors.DataUnavailable, match=message):
        data.load(path)


def test_source_loads_once_and_retries_after_a_failure(digits_path: pathlib.Path) -> None:
    calls: list[str] = []

    def flaky_loader(path: str) -> data.TestSet:
        calls.append(path)
        if len(calls) == 1:
            raise errors.DataUnavailable("not written yet")
        return data.load(path)

    source = data.TestSetSource(str(digits_path), loader=flaky_loader)
    with pytest.raises(errors.DataUnavailable):
        source.get()
    assert source.get() is source.get()
    assert len(calls) == 2
