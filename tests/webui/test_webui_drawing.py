"""Strict reading of posted drawings: 28x28 lists of [0, 1] numbers or PNG data URLs."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import pytest
from PIL import Image

from webui import drawing, errors


def data_url(image: Image.Image, *, image_format: str = "PNG") -> str:
    """`image` as a data URL, labelled PNG whatever the format, to test that the content is checked."""
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return drawing.PNG_DATA_URL_PREFIX + base64.b64encode(buffer.getvalue()).decode()


def rows_with(row: int, value: object) -> list[list[object]]:
    """A blank 28x28 drawing with one pixel of row `row` replaced by `value`."""
    rows: list[list[object]] = [[0.0] * 28 for _ in range(28)]
    rows[row][5] = value
    return rows


def test_rows_become_a_float_array() -> None:
    rows = [[(row * 28 + column) / 783 for column in range(28)] for row in range(28)]
    ink = drawing.parse({"image": rows})
    assert ink.shape == (28, 28) and ink.dtype == np.float32
    assert ink[27, 27] == pytest.approx(1.0)


def test_white_on_black_png_is_read_as_ink() -> None:
    image = Image.new("RGB", (280, 280), "black")
    image.paste("white", (100, 50, 140, 230))
    ink = drawing.parse({"image": data_url(image)})
    assert ink.shape == (280, 280)
    assert ink[100, 120] == pytest.approx(1.0) and ink[10, 10] == pytest.approx(0.0)


def test_dark_ink_on_paper_is_inverted() -> None:
    image = Image.new("L", (100, 100), 255)
    image.paste(0, (40, 10, 60, 90))
    ink = drawing.parse({"image": data_url(image)})
    assert ink[50, 50] == pytest.approx(1.0) and ink[5, 5] == pytest.approx(0.0)


def test_transparent_canvas_uses_opacity_as_ink() -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (40, 10, 60, 90))  # black strokes on a transparent canvas
    ink = drawing.parse({"image": data_url(image)})
    assert ink[50, 50] == pytest.approx(1.0) and ink[5, 5] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([[0.0] * 28] * 28, "JSON object"),
        ({"drawing": [[0.0] * 28] * 28}, "JSON object"),
        ({"image": 7}, "not int"),
        ({"image": None}, "not NoneType"),
        ({"image": [[0.0] * 28] * 27}, "28 rows, not 27"),
        ({"image": [[0.0] * 28] * 29}, "28 rows, not 29"),
        ({"image": [[0.0] * 28] * 27 + [[0.0] * 27]}, "row 27 .* 28 numbers, not 27"),
        ({"image": [[0.0] * 28] * 27 + ["x" * 28]}, "row 27 .* not str"),
        ({"image": rows_with(3, math.nan)}, "row 3 holds nan"),
        ({"image": rows_with(3, math.inf)}, "row 3 holds inf"),
        ({"image": rows_with(4, 1.5)}, r"\[0, 1\]"),
        ({"image": rows_with(4, -0.1)}, r"\[0, 1\]"),
        ({"image": rows_with(5, "0.5")}, "must be a number"),
        ({"image": rows_with(5, True)}, "must be a number"),
        ({"image": rows_with(5, None)}, "must be a number"),
        ({"image": "data:image/jpeg;base64,AAAA"}, "data URL starting with"),
        ({"image": "hello"}, "data URL starting with"),
        ({"image": drawing.PNG_DATA_URL_PREFIX + "not base64!"}, "not valid base64"),
        ({"image": drawing.PNG_DATA_URL_PREFIX + base64.b64encode(b"GIF89a....").decode()}, "readable PNG"),
        ({"image": data_url(Image.new("L", (28, 28)), image_format="JPEG")}, "readable PNG"),
        ({"image": data_url(Image.new("L", (3000, 10)))}, "at most 2048 px"),
    ],
)
def test_bad_drawings_are_refused_with_a_message(payload: object, message: str) -> None:
    with pytest.raises(errors.BadInput, match=message):
        drawing.parse(payload)
