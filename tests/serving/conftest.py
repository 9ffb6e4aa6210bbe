"""Fixtures for the serving tests: two exported model versions, an in-process app, a real server."""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import flask
import flask.testing
import keras
import numpy as np
import pytest
import requests

from helpers.serving import api, export, metrics, versions

MODEL_NAME = "mnist"
METRICS_PATH = "/monitoring/prometheus/metrics"
# Importing TensorFlow on a busy 2-core machine takes ~10 s; a server gets this long to answer.
STARTUP_TIMEOUT_S = 120.0
# Poll fast so hot-swap tests finish in a second or two.
POLL_S = 0.2
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
def app(manager: versions.VersionManager) -> flask.Flask:
    """The REST app with metrics on, a small body limit and exceptions propagated (no silent 500s)."""
    return api.create_app(
        manager=manager,
        monitoring=metrics.MonitoringConfig(enable=True, path=METRICS_PATH),
        max_body_bytes=TEST_BODY_LIMIT,
        timeout_s=30.0,
        test_config={"TESTING": True},
    )


@pytest.fixture
def client(app: flask.Flask) -> flask.testing.FlaskClient:
    """Flask's test client for `app`."""
    return app.test_client()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """`python -m helpers.serving.server` as a real child process on a free loopback port."""

    def __init__(self, *, base_path: pathlib.Path, log_path: pathlib.Path, extra_args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "helpers.serving.server",
                "--port=8500",
                f"--rest_api_port={self.port}",
                f"--model_name={MODEL_NAME}",
                f"--model_base_path={base_path}",
                f"--file_system_poll_wait_seconds={POLL_S}",
                *extra_args,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        """Wait until the model status answers 200; fails the test with the log if it never does."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(f"{self.url}/v1/models/{MODEL_NAME}", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"server did not become ready; log:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        """Terminate the server (kill after 10 s) and close its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def start_server(tmp_path: pathlib.Path) -> Iterator[Callable[..., ServerProcess]]:
    """`start_server(base_path, *extra_args)`: a ready server process, stopped after the test."""
    started: list[ServerProcess] = []

    def start(base_path: pathlib.Path, *extra_args: str) -> ServerProcess:
        process = ServerProcess(
            base_path=base_path, log_path=tmp_path / f"server-{len(started)}.log", extra_args=extra_args
        )
        started.append(process)
        process.wait_ready()
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, exported: dict[int, Exported]) -> Iterator[ServerProcess]:
    """One real server for read-only tests: version 1 of MNIST, metrics on the default path."""
    root = tmp_path_factory.mktemp("served")
    base = root / MODEL_NAME
    base.mkdir()
    _install(exported[1].path, base, 1)
    config = root / "monitoring.config"
    config.write_text(f'prometheus_config {{ enable: true, path: "{METRICS_PATH}" }}\n')
    server = ServerProcess(
        base_path=base, log_path=root / "server.log", extra_args=(f"--monitoring_config_file={config}",)
    )
    server.wait_ready()
    yield server
    server.stop()
