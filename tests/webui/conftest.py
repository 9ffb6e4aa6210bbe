"""Fixtures for the web UI tests: a tiny digit test set, model servers on loopback, the app.

The happy paths run against the project's real local TF Serving server
(`python -m helpers.serving.server`) serving a tiny SavedModel exported here; the failure paths
(error answers, slowness, garbage) against `FakeModelServer`, a small HTTP server whose
behaviour a test sets, because a real server cannot be told to fail on demand.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Iterator

import flask
import numpy as np
import pytest
from flask import testing

# This folder shares its name with the package under test: with tests/ on sys.path (the root
# conftest's folder) and the repository root not, `import webui` would find this folder as a
# namespace package. `python -m pytest` puts the root first; `.venv/bin/pytest` does not.
REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[2]
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

import webui_testing  # noqa: E402
from webui_testing import FakeModelServer, ModelServer  # noqa: E402

import webui  # noqa: E402


@pytest.fixture(scope="session")
def model_base_path(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A model base path whose version 1 is the nearest-centroid SavedModel of the test digits."""
    base_path = tmp_path_factory.mktemp("model") / "mnist"
    webui_testing.export_centroid_model(base_path / "1")
    return base_path


@pytest.fixture(scope="session")
def model_server(model_base_path: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """The real local model server, started once for the session and stopped at its end."""
    server = ModelServer(base_path=model_base_path, log_dir=tmp_path_factory.mktemp("logs")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def digits_path(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """An .npz with x_test/y_test of 20 rendered digits, as notebook 06 writes the real one."""
    images, labels = webui_testing.make_digits()
    path = tmp_path_factory.mktemp("data") / "mnist-test.npz"
    np.savez(path, x_test=images, y_test=labels)
    return path


@pytest.fixture
def fake_server() -> Iterator[FakeModelServer]:
    """A stand-in model server whose `mode` a test sets; stopped after the test."""
    fake = FakeModelServer()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def app(model_server: ModelServer, digits_path: pathlib.Path) -> flask.Flask:
    """The app on the real local model server and the tiny test set."""
    return webui.create_app({"TESTING": True, "MODEL_SERVER_URL": model_server.url, "DATA_PATH": str(digits_path)})


@pytest.fixture
def client(app: flask.Flask) -> testing.FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@pytest.fixture
def fake_client(fake_server: FakeModelServer, digits_path: pathlib.Path) -> testing.FlaskClient:
    """A test client of the app on the stand-in server, with a short timeout so "slow" means 504."""
    app = webui.create_app(
        {
            "TESTING": True,
            "MODEL_SERVER_URL": fake_server.url,
            "DATA_PATH": str(digits_path),
            "REQUEST_TIMEOUT_S": 0.5,
        }
    )
    return app.test_client()
