"""The MNIST test set the UI draws random examples from: an .npz read once, lazily.

Notebook 06 writes `x_test`/`y_test` (uint8) to an .npz on the local disk or in S3; the UI
reads it on first use rather than at start-up, so the page and `/healthz` come up even when
the file is missing, and the banner can say what is wrong.
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
import threading
import zipfile
from collections.abc import Callable

import boto3
import botocore.exceptions
import numpy as np

from webui import errors

# MNIST's image size, which the model and the page expect.
IMAGE_SHAPE = (28, 28)


@dataclasses.dataclass(frozen=True)
class TestSet:
    """Test images (uint8, [N, 28, 28]) and their labels (uint8, [N])."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def read_bytes(path: str) -> bytes:
    """The bytes at a local path or an s3://bucket/key URI; raises DataUnavailable."""
    if path.startswith("s3://"):
        bucket, _, key = path.removeprefix("s3://").partition("/")
        if not bucket or not key:
            raise errors.DataUnavailable(f"test set URI {path!r} is not of the form s3://bucket/key")
        try:
            body: bytes = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise errors.DataUnavailable(f"cannot read the test set from {path}: {e}") from e
        return body
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as e:
        raise errors.DataUnavailable(f"cannot read the test set from {path}: {e.strerror or e}") from e


def parse(content: bytes, *, source: str) -> TestSet:
    """The test set in .npz `content` (arrays x_test, y_test); raises DataUnavailable."""
    try:
        with np.load(io.BytesIO(content), allow_pickle=False) as arrays:
            images, labels = arrays["x_test"], arrays["y_test"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise errors.DataUnavailable(f"{source} is not an .npz with arrays x_test and y_test: {e}") from e
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise errors.DataUnavailable(f"{source}: x_test must be uint8 [N, 28, 28], not {images.dtype} {images.shape}")
    if labels.shape != (len(images),) or len(images) == 0:
        raise errors.DataUnavailable(f"{source}: y_test must hold one label per image, not shape {labels.shape}")
    return TestSet(images=images, labels=labels.astype(np.uint8))


def load(path: str) -> TestSet:
    """Read and check the test set at `path` (local or s3://); raises DataUnavailable."""
    if not path:
        raise errors.DataUnavailable("no test set is configured: set WEBUI_DATA_PATH to an .npz path or s3:// URI")
    return parse(read_bytes(path), source=path)


class TestSetSource:
    """Loads the test set on first use and keeps it; a failed load is retried on the next call."""

    def __init__(self, path: str, *, loader: Callable[[str], TestSet] = load) -> None:
        self.path = path
        self._loader = loader
        self._test_set: TestSet | None = None
        # waitress serves requests from several threads; read the file once, not once each.
        self._lock = threading.Lock()

    def get(self) -> TestSet:
        """The test set; raises DataUnavailable while it cannot be read."""
        with self._lock:
            if self._test_set is None:
                self._test_set = self._loader(self.path)
            return self._test_set
