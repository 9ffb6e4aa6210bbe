"""Fixtures for the serving tests: two exported model versions, an in-process app and a client that
calls it, a real server (tests/model_server.py)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import pathlib
import shutil
from collections.abc import Callable, Iterator

import keras
import numpy as np
import pytest

from helpers.serving import api, export, metrics, versions
from tests import model_server
from tests.serving import app_client

MODEL_NAME = model_server.MODEL_NAME
# TF Serving's gRPC port flag, which the local server accepts and names in its log as not served.
GRPC_FLAG = ("--port=8500",)
METRICS_PATH = "/monitoring/prometheus/metrics"
# Bodies past this get 413 from the in-process app (a few images fit, 100 do not).
TEST_BODY_LIMIT = 256 * 1024


@dataclasses.dataclass(frozen=True)
class Exported:
    """One exported model version and the Keras model it came from (the expected answers)."""

    path: pathlib.Path
    model: keras.Model

    def expected(self, images: np.ndarray) -> np.ndarray:
        """The probabilities the model itself computes for `images`."""
        return np.asarray(self.model(images, training=False))


def _tiny_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    )


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Exported]:
    """Versions 1 and 2 of a tiny classifier with different weights, exported with the contract."""
    root = tmp_path_factory.mktemp("exported")
    models = {}
    for version in (1, 2):
        model = _tiny_model(seed=version)
        export.export_classifier(model, root / str(version))
        models[version] = Exported(path=root / str(version), model=model)
    return models


def _install(source: pathlib.Path, base_path: pathlib.Path, version: int) -> pathlib.Path:
    """Copy a version into `base_path` and rename it into place at once, as the sync sidecar does."""
    staging = base_path / f".{version}.partial"
    shutil.copytree(source, staging)
    target = base_path / str(version)
    staging.rename(target)
    return target


@pytest.fixture
def install() -> Callable[[pathlib.Path, pathlib.Path, int], pathlib.Path]:
    """`install(source, base_path, version)`: put a version into a base path atomically."""
    return _install


@pytest.fixture
def images() -> np.ndarray:
    """Three random float32 images [3, 28, 28] with pixels in [0, 1]."""
    return np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)


@pytest.fixture
def base_path(tmp_path: pathlib.Path, exported: dict[int, Exported]) -> pathlib.Path:
    """A model base path holding version 1."""
    path = tmp_path / MODEL_NAME
    path.mkdir()
    _install(exported[1].path, path, 1)
    return path


@pytest.fixture
def manager(base_path: pathlib.Path) -> Iterator[versions.VersionManager]:
    """A version manager that has scanned `base_path` once (tests call `poll` themselves)."""
    version_manager = versions.VersionManager(model_name=MODEL_NAME, base_path=base_path)
    version_manager.poll()
    yield version_manager
    version_manager.stop()


@pytest.fixture
def executor() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    """The thread pool the app runs unbatched predicts on."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        yield pool


@pytest.fixture
def app(manager: versions.VersionManager, executor: concurrent.futures.Executor) -> api.App:
    """The REST app with metrics on and a small body limit."""
    return api.create_app(
        manager=manager,
        monitoring=metrics.MonitoringConfig(enable=True, path=METRICS_PATH),
        max_body_bytes=TEST_BODY_LIMIT,
        timeout_s=30.0,
        executor=executor,
    )


@pytest.fixture
def client(app: api.App) -> app_client.Client:
    """A client calling `app` in-process."""
    return app_client.Client(app)


@pytest.fixture
def start_server(tmp_path: pathlib.Path) -> Iterator[Callable[..., model_server.ModelServer]]:
    """`start_server(base_path, *extra_args)`: a ready server process, stopped after the test."""
    started: list[model_server.ModelServer] = []

    def start(base_path: pathlib.Path, *extra_args: str) -> model_server.ModelServer:
        server = model_server.ModelServer(base_path=base_path, log_dir=tmp_path, extra_args=(*GRPC_FLAG, *extra_args))
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def served(
    tmp_path_factory: pytest.TempPathFactory, exported: dict[int, Exported]
) -> Iterator[model_server.ModelServer]:
    """One real server for read-only tests: version 1 of MNIST, metrics on the default path."""
    root = tmp_path_factory.mktemp("served")
    base = root / MODEL_NAME
    base.mkdir()
    _install(exported[1].path, base, 1)
    config = root / "monitoring.config"
    config.write_text(f'prometheus_config {{ enable: true, path: "{METRICS_PATH}" }}\n')
    server = model_server.ModelServer(
        base_path=base, log_dir=root, extra_args=(*GRPC_FLAG, f"--monitoring_config_file={config}")
    ).start()
    yield server
    server.stop()
