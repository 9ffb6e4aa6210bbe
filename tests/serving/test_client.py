"""ServingClient against a real server process, and its errors when things go wrong."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from helpers import errors
from helpers.serving import client as serving_client


@pytest.fixture
def serving(served) -> Iterator[serving_client.ServingClient]:
    with serving_client.ServingClient(served.url, "mnist") as connected:
        yield connected


def test_status_and_wait_available(serving) -> None:
    assert serving.status()[0] == {
        "version": "1",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
    assert serving.wait_available(timeout_s=10) == "1"


def test_metadata(serving) -> None:
    body = serving.metadata()
    assert body["model_spec"]["version"] == "1"
    assert "serving_default" in body["metadata"]["signature_def"]["signature_def"]


def test_predict_returns_probabilities(serving, exported, images) -> None:
    for version in (None, "1"):
        probabilities = serving.predict(images, version=version)
        assert probabilities.shape == (3, 10)
        np.testing.assert_allclose(probabilities, exported[1].expected(images), rtol=1e-5, atol=1e-6)


def test_http_errors_carry_the_servers_message(serving, images) -> None:
    with pytest.raises(serving_client.ServingError, match="Specific") as caught:
        serving.predict(images, version="9")
    assert caught.value.status == 404
    assert isinstance(caught.value, errors.HelpersError)


def test_bad_images_are_a_config_error(serving) -> None:
    with pytest.raises(errors.ConfigError, match="divide uint8 images by 255"):
        serving.predict(np.zeros((1, 28, 28), dtype=np.uint8))
    with pytest.raises(errors.ConfigError, match="images"):
        serving.predict(np.zeros((28, 28), dtype=np.float32))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_server_is_a_serving_error_without_status() -> None:
    with serving_client.ServingClient(f"http://127.0.0.1:{_closed_port()}", "mnist", timeout_s=2) as unreachable:
        with pytest.raises(serving_client.ServingError, match="cannot connect") as caught:
            unreachable.status()
        assert caught.value.status is None
        with pytest.raises(errors.WaitTimeout, match="cannot connect"):
            unreachable.wait_available(timeout_s=1.2)


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_silent_server_is_a_timeout_error(silent_url) -> None:
    with serving_client.ServingClient(silent_url, "mnist", timeout_s=0.5) as silent:
        with pytest.raises(serving_client.ServingError, match=r"no answer within 0\.5 s") as caught:
            silent.metadata()
        assert caught.value.status is None


def test_a_model_that_never_loads_times_out_waiting(served) -> None:
    with (
        serving_client.ServingClient(served.url, "absent", timeout_s=2) as absent,
        pytest.raises(errors.WaitTimeout, match="Could not find any versions of model absent"),
    ):
        absent.wait_available(timeout_s=1.0)


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(errors.ConfigError, match="base_url"):
        serving_client.ServingClient("127.0.0.1:8501", "mnist")
    with pytest.raises(errors.ConfigError, match="timeout_s"):
        serving_client.ServingClient("http://127.0.0.1:8501", "mnist", timeout_s=0)
