"""The JSON API: random examples, drawings, and every failure as {"error": ...} with its status."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from flask import testing
from PIL import Image
from webui_testing import FakeModelServer, free_port, render_digit

import webui


def png_data_url(pixels: np.ndarray, *, scale: int = 10) -> str:
    """A uint8 image enlarged `scale` times, as a canvas would post it."""
    height, width = pixels.shape
    image = Image.fromarray(pixels).resize((width * scale, height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_random_returns_an_example_with_its_prediction(client: testing.FlaskClient) -> None:
    response = client.get("/api/random")
    assert response.status_code == 200
    example = response.json
    assert set(example) == {"index", "label", "image", "probabilities", "predicted"}
    assert 0 <= example["index"] < 20 and example["label"] == example["index"] % 10
    assert example["image"].startswith("data:image/png;base64,")
    assert len(example["probabilities"]) == 10 and sum(example["probabilities"]) == pytest.approx(1.0)
    assert example["predicted"] == int(np.argmax(example["probabilities"])) == example["label"]


def test_random_never_repeats_the_excluded_index(client: testing.FlaskClient) -> None:
    indices = {client.get("/api/random?exclude=7").json["index"] for _ in range(40)}
    assert 7 not in indices and len(indices) > 1


@pytest.mark.parametrize("image", ["rows", "png"])
def test_classify_preprocesses_and_predicts_a_drawing(client: testing.FlaskClient, image: str) -> None:
    pixels = render_digit(4)
    drawn = (pixels / 255.0).tolist() if image == "rows" else png_data_url(pixels)
    response = client.post("/api/classify", json={"image": drawn})
    assert response.status_code == 200
    assert response.json["predicted"] == 4
    assert response.json["image"].startswith("data:image/png;base64,")


def test_classify_sends_one_centred_28x28_image(fake_client: testing.FlaskClient, fake_server: FakeModelServer) -> None:
    drawn = np.zeros((280, 280), dtype=np.uint8)
    drawn[20:120, 200:230] = 255  # a bar in the top-right corner of a large canvas
    assert fake_client.post("/api/classify", json={"image": png_data_url(drawn, scale=1)}).status_code == 200
    (sent,) = np.array(fake_server.requests[-1]["instances"])
    assert sent.shape == (28, 28) and sent.min() >= 0.0 and sent.max() <= 1.0
    rows, columns = np.nonzero(sent > 0.5)
    assert abs(rows.mean() - 13.5) <= 1 and abs(columns.mean() - 13.5) <= 1


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ("not json", "application/json", "must be JSON"),
        ('{"image": [[0]]}', "text/plain", "must be JSON"),
        ("[1, 2]", "application/json", "JSON object"),
        ('{"image": [[0.5]]}', "application/json", "28 rows, not 1"),
        ('{"image": [' + ",".join(["[" + ",".join(["NaN"] * 28) + "]"] * 28) + "]}", "application/json", "nan"),
        ('{"image": "data:image/png;base64,@@@"}', "application/json", "base64"),
        ('{"image": [' + ",".join(["[" + ",".join(["0"] * 28) + "]"] * 28) + "]}", "application/json", "empty"),
    ],
)
def test_classify_refuses_bad_drawings_with_400(
    client: testing.FlaskClient, body: str, content_type: str, message: str
) -> None:
    response = client.post("/api/classify", data=body, content_type=content_type)
    assert response.status_code == 400
    assert message in response.json["error"]


def test_random_refuses_a_bad_exclude(client: testing.FlaskClient) -> None:
    response = client.get("/api/random?exclude=seven")
    assert response.status_code == 400 and "exclude" in response.json["error"]


def test_oversized_body_is_413_json(client: testing.FlaskClient) -> None:
    response = client.post("/api/classify", data=b"x" * (3 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413 and "error" in response.json


@pytest.mark.parametrize(
    ("mode", "status", "message"),
    [("error", 502, "HTTP 500"), ("slow", 504, "did not answer within 0.5 s"), ("garbage", 502, "without JSON")],
)
def test_model_server_failures_are_json_with_502_or_504(
    fake_client: testing.FlaskClient, fake_server: FakeModelServer, mode: str, status: int, message: str
) -> None:
    fake_server.mode = mode
    for response in (
        fake_client.get("/api/random"),
        fake_client.post("/api/classify", json={"image": (render_digit(1) / 255.0).tolist()}),
    ):
        assert response.status_code == status
        assert message in response.json["error"]
        assert "Traceback" not in response.text


def test_model_server_down_is_502(digits_path: object) -> None:
    app = webui.create_app(
        {"TESTING": True, "MODEL_SERVER_URL": f"http://127.0.0.1:{free_port()}", "DATA_PATH": str(digits_path)}
    )
    response = app.test_client().get("/api/random")
    assert response.status_code == 502 and "unreachable" in response.json["error"]


def test_missing_test_set_is_503(fake_server: FakeModelServer) -> None:
    app = webui.create_app({"TESTING": True, "MODEL_SERVER_URL": fake_server.url, "DATA_PATH": "/nonexistent.npz"})
    response = app.test_client().get("/api/random")
    assert response.status_code == 503 and "/nonexistent.npz" in response.json["error"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/nothing", 404), ("GET", "/api/classify", 405), ("POST", "/api/random", 405)],
)
def test_unknown_api_routes_answer_json(client: testing.FlaskClient, method: str, path: str, status: int) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.is_json and response.json["error"]


def test_unknown_page_routes_keep_html_errors(client: testing.FlaskClient) -> None:
    response = client.get("/nothing")
    assert response.status_code == 404 and not response.is_json
