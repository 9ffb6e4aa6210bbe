"""The REST app against TF Serving's documented shapes, every error path, and hostile JSON."""

from __future__ import annotations

import asyncio
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers.serving import api, metrics
from tests.serving.app_client import Client

MODEL = "/v1/models/mnist"


def test_model_status_shape(client) -> None:
    for path in (MODEL, f"{MODEL}/versions/1"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.json == {
            "model_version_status": [
                {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        }


def test_metadata_shape(client) -> None:
    for path in (f"{MODEL}/metadata", f"{MODEL}/versions/1/metadata"):
        answer = client.get(path)
        assert answer.status_code == 200
        body = answer.json
        assert list(body) == ["model_spec", "metadata"]
        assert body["model_spec"] == {"name": "mnist", "signature_name": "", "version": "1"}
        signatures = body["metadata"]["signature_def"]["signature_def"]
        assert set(signatures) == {"serving_default", "__saved_model_init_op"}
        serving_default = signatures["serving_default"]
        assert set(serving_default["inputs"]) == {"x"}
        assert set(serving_default["outputs"]) == {"predictions", "classes"}
        assert serving_default["method_name"] == "tensorflow/serving/predict"


@pytest.mark.parametrize("path", [f"{MODEL}:predict", f"{MODEL}/versions/1:predict"])
def test_row_predict_returns_one_object_per_instance(client, exported, images, path) -> None:
    answer = client.post(path, json={"signature_name": "serving_default", "instances": images.tolist()})
    assert answer.status_code == 200
    rows = answer.json["predictions"]
    assert [set(row) for row in rows] == [{"predictions", "classes"}] * len(images)
    probabilities = np.array([row["predictions"] for row in rows])
    np.testing.assert_allclose(probabilities, exported[1].expected(images), rtol=1e-5, atol=1e-6)
    assert [row["classes"] for row in rows] == probabilities.argmax(axis=1).tolist()


def test_columnar_predict_returns_outputs_by_name(client, exported, images) -> None:
    for inputs in (images.tolist(), {"x": images.tolist()}):
        answer = client.post(f"{MODEL}:predict", json={"inputs": inputs})
        assert answer.status_code == 200
        outputs = answer.json["outputs"]
        np.testing.assert_allclose(outputs["predictions"], exported[1].expected(images), rtol=1e-5, atol=1e-6)
        assert len(outputs["classes"]) == len(images)


def test_labels_are_answered_with_tf_servings_error(client) -> None:
    for answer in (client.get(f"{MODEL}/labels/stable"), client.post(f"{MODEL}/labels/stable:predict", json={})):
        assert answer.status_code == 400
        assert answer.json == {"error": "Unrecognized servable version label: stable"}


def _pixels(count: int = 1) -> list:
    return np.full((count, 28, 28), 0.5).tolist()


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "message"),
    [
        ("post", f"{MODEL}:predict", b"{not json", 400, "JSON Parse error"),
        ("post", f"{MODEL}:predict", json.dumps({"instances": [[1.0, 2.0]]}), 400, "expected shape [-1,28,28]"),
        ("post", f"{MODEL}:predict", json.dumps({"inputs": [[["a"] * 28] * 28]}), 400, "not of expected type"),
        ("post", f"{MODEL}:predict", json.dumps({"instances": _pixels(), "inputs": _pixels()}), 400, "only one of"),
        ("post", f"{MODEL}:predict", json.dumps({"signature_name": "serving_default"}), 400, "Missing 'inputs'"),
        ("post", f"{MODEL}:predict", json.dumps({"signature_name": "x", "inputs": _pixels()}), 400, '"x" not found'),
        ("post", "/v1/models/other:predict", json.dumps({"inputs": _pixels()}), 404, "Latest(other)"),
        ("post", f"{MODEL}/versions/5:predict", json.dumps({"inputs": _pixels()}), 404, "Specific(mnist, 5)"),
        ("get", "/v1/models/other", None, 404, "Could not find any versions of model other"),
        ("get", f"{MODEL}/versions/5", None, 404, "Could not find version 5 of model mnist"),
        ("get", f"{MODEL}/versions/5/metadata", None, 404, "Specific(mnist, 5)"),
        ("get", f"{MODEL}/versions/99999999999999999999", None, 400, "Failed to convert version"),
        ("get", f"{MODEL}:predict", None, 400, "Malformed request: GET /v1/models/mnist:predict"),
        ("get", "/v1/models/mnist/versions/abc", None, 400, "Malformed request"),
        ("post", f"{MODEL}:classify", json.dumps({"examples": []}), 501, ":predict only"),
        ("post", f"{MODEL}:predict", json.dumps({"inputs": _pixels(200)}), 413, "larger than the server's limit"),
    ],
)
def test_errors_are_json_with_tf_serving_codes(client, method, path, body, code, message) -> None:
    answer = getattr(client, method)(path, data=body)
    assert answer.status_code == code
    assert answer.content_type == "application/json"
    assert message in answer.json["error"]


def test_a_chunked_body_past_the_limit_gets_a_json_413(app, client) -> None:
    chunk = b" " * (app.max_body_bytes // 4)
    answer = client.request("POST", f"{MODEL}:predict", [chunk] * 5, declare_length=False)
    assert answer.status_code == 413
    assert f"larger than the server's limit of {app.max_body_bytes} bytes" in answer.json["error"]


def test_a_declared_length_past_the_limit_is_refused_before_the_body_is_read(app) -> None:
    async def receive() -> dict:
        raise AssertionError("the body was read")

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": f"{MODEL}:predict",
        "headers": [(b"content-length", str(app.max_body_bytes + 1).encode())],
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413


def test_head_answers_like_get_without_a_body(client) -> None:
    answer = client.request("HEAD", MODEL)
    assert (answer.status_code, answer.data) == (200, b"")
    assert answer.headers["content-length"] == str(len(client.get(MODEL).data))


def test_a_slow_predict_is_a_deadline_error(manager, executor) -> None:
    slow = Client(
        api.create_app(
            manager=manager,
            monitoring=metrics.MonitoringConfig(),
            max_body_bytes=2**20,
            timeout_s=1e-6,
            executor=executor,
        )
    )
    answer = slow.post(f"{MODEL}:predict", json={"inputs": _pixels(50)})
    assert answer.status_code == 504
    assert "rest_api_timeout_in_ms" in answer.json["error"]


_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([1e308, -1e308, 0.5, 3.4e38, 1e39]),
)
_leaves = st.one_of(_numbers, st.text(max_size=3), st.booleans(), st.none())
_values = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.sampled_from(["x", "y", "b64"]), children, max_size=2)
    ),
    max_leaves=20,
)
_images = st.builds(lambda count, fill: [[[fill] * 28] * 28] * count, st.integers(1, 2), st.one_of(_numbers, _leaves))
_bodies = st.one_of(
    st.fixed_dictionaries({"instances": st.one_of(_values, _images)}),
    st.fixed_dictionaries({"inputs": st.one_of(_values, _images, st.fixed_dictionaries({"x": _images}))}),
    st.fixed_dictionaries(
        {"signature_name": st.one_of(st.just("serving_default"), _leaves), "instances": st.one_of(_values, _images)}
    ),
    st.dictionaries(st.sampled_from(["instances", "inputs", "signature_name", "extra"]), _values, max_size=3),
    _values,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, deep=st.integers(0, 3))
def test_hostile_json_gets_a_4xx_error_or_a_prediction(client, body, deep) -> None:
    text = json.dumps(body)
    if deep:
        # Nesting far beyond any tensor rank (and, at 10**5, beyond the parser's recursion limit).
        depth = 10 ** (deep + 2)
        text = json.dumps({"instances": None}).replace("null", "[" * depth + "1" + "]" * depth)
    answer = client.post(f"{MODEL}:predict", data=text)
    assert answer.content_type == "application/json"
    if answer.status_code == 200:
        rows = answer.json["predictions"] if "predictions" in answer.json else answer.json["outputs"]["predictions"]
        assert all(len(row["predictions"] if isinstance(row, dict) else row) == 10 for row in rows)
    else:
        assert 400 <= answer.status_code < 500, answer.json
        assert isinstance(answer.json["error"], str) and answer.json["error"]
    healthy = client.post(f"{MODEL}:predict", json={"inputs": _pixels()})
    assert healthy.status_code == 200
    assert math.isclose(sum(healthy.json["outputs"]["predictions"][0]), 1.0, rel_tol=1e-5)
