"""Random and hostile input to the web UI's JSON API, against the real local model server.

Every answer must be a 4xx JSON error or a correct prediction, never a 5xx or an exception (the
test client re-raises one), and the app must still classify a real digit afterwards. The model
server's own hypothesis test lives in tests/serving; this one is about the UI in front of it.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

import hypothesis
import numpy as np
import pytest
import webui_testing
from flask import testing
from hypothesis import example, given, settings, strategies as st

from webui import config, preprocess

# Enough random requests to meet every shape of input below, few enough for a 2-core machine.
EXAMPLES = 50
# The 20-digit test set of tests/webui's `digits_path` fixture.
TEST_SET_SIZE = 20
PNG_PREFIX = "data:image/png;base64,"
# The UI refuses larger bodies with 413 before reading them.
MAX_BODY_BYTES = config.DEFAULTS["MAX_CONTENT_LENGTH"]


def _paint(digit: int | None, painted: list[tuple[int, int, float]]) -> list[list[float]]:
    """A 28x28 drawing in [0, 1]: `digit` rendered (or a blank canvas) with the `painted` pixels set."""
    canvas = np.zeros((28, 28)) if digit is None else webui_testing.render_digit(digit) / 255.0
    for row, column, ink in painted:
        canvas[row, column] = ink
    return canvas.tolist()


# Any JSON number: NaN and infinities (Python's json reads and writes them) and integers far
# beyond a float's range.
numbers = st.floats() | st.integers() | st.integers(min_value=10**300, max_value=10**1000)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=20)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=30) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
)
pixels = numbers | st.booleans() | st.none() | st.text(max_size=3)
# Near-28x28 grids of anything: wrong sizes, wrong types and out-of-range values all reach the checks.
rows = st.lists(pixels, min_size=28, max_size=28) | st.lists(pixels, min_size=26, max_size=30)
grids = st.lists(rows, min_size=28, max_size=28) | st.lists(rows, min_size=26, max_size=30)
# Real drawings, so that requests come back as predictions: a rendered digit (or a blank canvas)
# with random pixels of random ink painted over it, as 28x28 lists of numbers in [0, 1].
strokes = st.lists(st.tuples(st.integers(0, 27), st.integers(0, 27), st.floats(0.0, 1.0)), max_size=200)
drawings = st.builds(_paint, st.none() | st.integers(0, 9), strokes)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` and holds no pixel data: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


images = st.one_of(
    json_values,
    grids,
    drawings,
    st.text(max_size=50).map(lambda text: PNG_PREFIX + text),
    st.binary(max_size=200).map(lambda content: PNG_PREFIX + base64.b64encode(content).decode()),
    st.tuples(st.integers(1, 100_000), st.integers(1, 100_000)).map(
        lambda size: PNG_PREFIX + base64.b64encode(png_header(*size)).decode()
    ),
)
bodies = st.one_of(
    images.map(lambda image: json.dumps({"image": image}).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=300),
    # Deep nesting: Python's json parser recurses once per level.
    st.integers(1, 200_000).map(lambda depth: b"[" * depth + b"]" * depth),
    # Around the body limit: just under it parses, just over it is refused before parsing.
    st.integers(-64, 64).map(lambda delta: b'{"image": 1' + b" " * (MAX_BODY_BYTES + delta) + b"}"),
)


# Bodies that made the UI answer 500 until it was fixed (RecursionError in the json parser,
# OverflowError comparing a huge integer as a float, Pillow's DecompressionBombError), tried on every run.
DEEP_NESTING = b"[" * 100_000 + b"]" * 100_000
HUGE_INTEGERS = json.dumps({"image": [[10**400] * 28] * 28}).encode()
PNG_BOMB = json.dumps({"image": PNG_PREFIX + base64.b64encode(png_header(20_000, 20_000)).decode()}).encode()
JSON = "application/json"


def assert_error_or_prediction(response: Any) -> dict[str, Any]:
    """The answer is a 4xx with {"error": text} or a 200 with a well-formed prediction; returns the JSON."""
    hypothesis.event(f"HTTP {response.status_code}")
    assert response.status_code == 200 or 400 <= response.status_code < 500, (response.status_code, response.text)
    answer = response.get_json(silent=True)
    assert isinstance(answer, dict), response.text[:300]
    if response.status_code != 200:
        assert isinstance(answer.get("error"), str) and answer["error"], answer
        return answer
    probabilities = answer["probabilities"]
    assert len(probabilities) == 10 and all(0.0 <= value <= 1.0 for value in probabilities)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
    assert answer["predicted"] == int(np.argmax(probabilities))
    return answer


def assert_still_classifies(client: testing.FlaskClient) -> None:
    """A real digit still comes back as itself, through the model server."""
    response = client.post("/api/classify", json={"image": (webui_testing.render_digit(3) / 255.0).tolist()})
    assert response.status_code == 200 and response.json["predicted"] == 3, response.text


def test_classify_answers_hostile_bodies_with_4xx_or_a_prediction(client: testing.FlaskClient) -> None:
    @settings(max_examples=EXAMPLES, deadline=None)
    @given(body=bodies, content_type=st.sampled_from([JSON, "text/plain", "application/json; charset=utf-8"]))
    @example(body=DEEP_NESTING, content_type=JSON)
    @example(body=HUGE_INTEGERS, content_type=JSON)
    @example(body=PNG_BOMB, content_type=JSON)
    def answer(body: bytes, content_type: str) -> None:
        assert_error_or_prediction(client.post("/api/classify", data=body, content_type=content_type))

    answer()
    assert_still_classifies(client)


def test_classify_predicts_drawings_as_the_model_does(client: testing.FlaskClient) -> None:
    centroids = webui_testing.digit_centroids()

    @settings(max_examples=EXAMPLES // 2, deadline=None)
    @given(drawing=drawings)
    def answer(drawing: list[list[float]]) -> None:
        response = client.post("/api/classify", json={"image": drawing})
        result = assert_error_or_prediction(response)
        if response.status_code != 200:
            assert "empty" in result["error"], "a valid drawing is refused only when nothing is drawn"
            return
        # The same nearest-centroid model, evaluated here on the UI's pre-processing of the drawing.
        image = preprocess.to_mnist(np.array(drawing, dtype=np.float32))
        expected = webui_testing.centroid_probabilities(image[np.newaxis], centroids)[0]
        assert result["probabilities"] == pytest.approx(expected.tolist(), abs=1e-4)

    answer()
    assert_still_classifies(client)


def test_random_answers_hostile_exclude_with_4xx_or_an_example(client: testing.FlaskClient) -> None:
    @settings(max_examples=EXAMPLES, deadline=None)
    @given(
        exclude=st.one_of(
            st.integers(-5, TEST_SET_SIZE + 5).map(str),
            st.integers().map(str),
            st.integers(4000, 5000).map(lambda digits: "9" * digits),
            st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
        )
    )
    # Each made the UI answer 500 until it was fixed: int() refuses them after isdigit() said yes.
    @example(exclude="9" * 4301)
    @example(exclude="--5")
    @example(exclude="²")
    def answer(exclude: str) -> None:
        response = client.get("/api/random", query_string={"exclude": exclude})
        example = assert_error_or_prediction(response)
        if response.status_code != 200:
            assert "exclude" in example["error"], example
            return
        assert 0 <= example["index"] < TEST_SET_SIZE and example["label"] == example["index"] % 10
        # A 200 means the UI read `exclude` as Python reads an int ("+3", " 3", "٣" are all 3).
        assert example["index"] != int(exclude), "the excluded index never comes back"

    answer()
    assert client.get("/api/random?exclude=3").status_code == 200
    assert_still_classifies(client)
