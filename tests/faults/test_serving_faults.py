"""Faults the serving path survives, seen from the web UI: a model server restart and a corrupt new version.

The real local model server (`python -m helpers.serving.server`) serves a linear classifier whose
answers the test computes itself; the UI is the real Flask app (`webui.create_app`) driven through
Flask's test client, so it is never restarted. The server-level check that a corrupt version never
serves is tests/serving/test_server.py::test_new_versions_hot_swap_and_broken_ones_never_serve; here
the same fault is checked through the UI.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import time

import numpy as np
import pytest
from flask import testing

import webui
from tests.model_server import ModelServer

from .conftest import LinearModel, export_linear_model, survivors

# How long the server may take to try (and refuse) a new version: many of its 0.2 s polls.
VERSION_SEEN_TIMEOUT_S = 30.0
_BANNER = re.compile(r'<div id="banner"([^>]*)>([^<]*)</div>')


@pytest.fixture(scope="module")
def good_version(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, LinearModel]:
    """One exported good version (exported once: TensorFlow's import costs seconds) and its weights."""
    directory = tmp_path_factory.mktemp("exported") / "1"
    return directory, export_linear_model(directory, seed=1)


def ui_client(server: ModelServer, test_set_path: pathlib.Path) -> testing.FlaskClient:
    """A test client of the real web UI app pointed at `server`."""
    app = webui.create_app({"TESTING": True, "MODEL_SERVER_URL": server.url, "DATA_PATH": str(test_set_path)})
    return app.test_client()


def expected_probabilities(model: LinearModel, test_set_path: pathlib.Path, index: int) -> np.ndarray:
    """What `model` answers for test image `index`, scaled to [0, 1] as the UI sends it."""
    with np.load(test_set_path) as arrays:
        image = arrays["x_test"][index].astype(np.float32) / 255.0
    return model.probabilities(image[np.newaxis])[0]


def assert_served_by(client: testing.FlaskClient, model: LinearModel, test_set_path: pathlib.Path) -> None:
    """The UI's random example answers 200 with `model`'s probabilities."""
    answer = client.get("/api/random")
    assert answer.status_code == 200, answer.json
    example = answer.json
    expected = expected_probabilities(model, test_set_path, example["index"])
    np.testing.assert_allclose(example["probabilities"], expected, rtol=1e-4, atol=1e-5)


def serve_version_one(
    server: ModelServer,
    base_path: pathlib.Path,
    version: tuple[pathlib.Path, LinearModel],
    test_set_path: pathlib.Path,
) -> testing.FlaskClient:
    """Start the server on version 1 and return a UI client that is already answered by it."""
    source, model = version
    shutil.copytree(source, base_path / "1")
    server.start()
    client = ui_client(server, test_set_path)
    assert_served_by(client, model, test_set_path)
    return client


def banner(page_html: str) -> tuple[bool, str]:
    """(shown, text) of the page's banner."""
    match = _BANNER.search(page_html)
    assert match, "the page has no banner"
    return "hidden" not in match.group(1).split(), match.group(2)


def test_the_ui_shows_the_banner_while_the_model_server_restarts_then_recovers(
    model_server: ModelServer,
    model_base_path: pathlib.Path,
    good_version: tuple[pathlib.Path, LinearModel],
    test_set_path: pathlib.Path,
    no_leftovers: str,
) -> None:
    _, model = good_version
    client = serve_version_one(model_server, model_base_path, good_version, test_set_path)
    assert banner(client.get("/").text) == (False, "")

    model_server.stop()
    down = client.get("/api/random")
    assert down.status_code == 502 and down.is_json
    message = down.json["error"]
    assert "unreachable" in message and model_server.url in message
    page = client.get("/")
    assert page.status_code == 502
    assert banner(page.text) == (True, message)
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200  # liveness stays up: the UI is not restarted

    model_server.start()  # the same port, as a restarted pod behind its Service
    assert_served_by(client, model, test_set_path)
    page = client.get("/")
    assert page.status_code == 200 and banner(page.text) == (False, "")
    assert client.get("/readyz").json["version"] == "1"
    model_server.stop()
    assert survivors(no_leftovers) == []


def test_a_corrupt_new_version_leaves_the_ui_on_the_previous_one(
    model_server: ModelServer,
    model_base_path: pathlib.Path,
    good_version: tuple[pathlib.Path, LinearModel],
    test_set_path: pathlib.Path,
    no_leftovers: str,
) -> None:
    source, model = good_version
    client = serve_version_one(model_server, model_base_path, good_version, test_set_path)

    # Version 2 arrives whole (renamed into place, as the sync sidecar does) but its graph is garbage.
    staging = model_base_path / ".2.partial"
    shutil.copytree(source, staging)
    (staging / "saved_model.pb").write_bytes(b"\x08\x96\x01 not a SavedModel \xff\xff")
    staging.rename(model_base_path / "2")
    wait_for_state(model_server, version="2", state="END")

    assert model_server.states()["1"] == "AVAILABLE"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["version"] == "1"
    for _ in range(3):
        assert_served_by(client, model, test_set_path)
    assert banner(client.get("/").text) == (False, "")
    model_server.stop()
    assert survivors(no_leftovers) == []


def wait_for_state(server: ModelServer, *, version: str, state: str) -> None:
    """Wait until the server reports `version` in `state`; fails the test after VERSION_SEEN_TIMEOUT_S."""
    deadline = time.monotonic() + VERSION_SEEN_TIMEOUT_S
    while server.states().get(version) != state:
        assert time.monotonic() < deadline, f"version {version} never reached {state}: {server.states()}"
        time.sleep(0.2)
