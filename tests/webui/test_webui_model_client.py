"""The TF Serving REST client: request shape, both row formats, and every failure as a UI error."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from webui_testing import FakeModelServer, ModelServer, free_port, make_digits

from webui import errors, model_client


def client_for(url: str, *, timeout_s: float = 0.5) -> model_client.ModelClient:
    """A client of model "mnist" at `url`."""
    return model_client.ModelClient(base_url=url, model_name="mnist", timeout_s=timeout_s)


def test_predict_sends_row_format_and_reads_rows_keyed_by_output(fake_server: FakeModelServer) -> None:
    images, labels = make_digits()
    probabilities = client_for(fake_server.url + "/").predict(images[:3] / 255.0)
    assert probabilities.shape == (3, 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities.argmax(axis=1).tolist() == labels[:3].tolist()
    request = fake_server.requests[0]
    assert request["signature_name"] == "serving_default"
    assert np.array(request["instances"]).shape == (3, 28, 28)


def test_predict_and_status_against_the_local_tf_serving_server(model_server: ModelServer) -> None:
    images, labels = make_digits()
    client = client_for(model_server.url, timeout_s=10)
    assert client.status() == {"version": "1", "state": "AVAILABLE"}
    probabilities = client.predict(images / 255.0)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert probabilities.argmax(axis=1).tolist() == labels.tolist()


def test_predict_reads_bare_rows(fake_server: FakeModelServer) -> None:
    fake_server.mode = "bare"
    images, labels = make_digits()
    probabilities = client_for(fake_server.url).predict(images[4:5] / 255.0)
    assert probabilities.argmax(axis=1).tolist() == [labels[4]]


def test_status_reports_the_served_version(fake_server: FakeModelServer) -> None:
    assert client_for(fake_server.url).status() == {"version": "1", "state": "AVAILABLE"}


@pytest.mark.parametrize(
    ("mode", "error", "message"),
    [
        ("error", errors.ModelServerError, "HTTP 500: Tensor name"),
        ("garbage", errors.ModelServerError, "without JSON"),
        ("slow", errors.ModelServerTimeout, "did not answer within 0.5 s"),
    ],
)
def test_server_failures_become_ui_errors(
    fake_server: FakeModelServer, mode: str, error: type[errors.WebUIError], message: str
) -> None:
    fake_server.mode = mode
    with pytest.raises(error, match=message):
        client_for(fake_server.url).predict(np.zeros((1, 28, 28)))


def test_unknown_model_is_an_error(fake_server: FakeModelServer) -> None:
    client = model_client.ModelClient(base_url=fake_server.url, model_name="other", timeout_s=0.5)
    with pytest.raises(errors.ModelServerError, match="HTTP 404: Could not find"):
        client.status()


def test_unreachable_server_is_a_502_error() -> None:
    with pytest.raises(errors.ModelServerError, match="unreachable") as caught:
        client_for(f"http://127.0.0.1:{free_port()}").predict(np.zeros((1, 28, 28)))
    assert caught.value.status == 502
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "without 1 prediction row"),
        ([[0.1] * 9], "not 10 numbers"),
        ([{"classes": 3}], "not 10 numbers"),
        ([[0.1] * 9 + ["x"]], "not 10 numbers"),
        ([[0.1] * 9 + [float("nan")]], "not 10 numbers"),
    ],
)
def test_malformed_predictions_are_refused(fake_server: FakeModelServer, rows: list[object], message: str) -> None:
    fake_server.mode = "rows"
    fake_server.rows = rows
    with pytest.raises(errors.ModelServerError, match=message):
        client_for(fake_server.url).predict(np.zeros((1, 28, 28)))
