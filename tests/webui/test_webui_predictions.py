"""What the page and the API show: random picks that change, PNG encoding, predictions."""

from __future__ import annotations

import base64
import io
import random

import numpy as np
import pytest
from PIL import Image

from webui import predictions


def test_pick_index_never_returns_the_excluded_one() -> None:
    rng = random.Random(0)
    picks = {predictions.pick_index(size=5, rng=rng, exclude=2) for _ in range(200)}
    assert picks == {0, 1, 3, 4}


@pytest.mark.parametrize(("size", "exclude"), [(1, 0), (5, None), (5, 99), (5, -1)])
def test_pick_index_is_any_index_when_exclusion_cannot_apply(size: int, exclude: int | None) -> None:
    rng = random.Random(0)
    picks = {predictions.pick_index(size=size, rng=rng, exclude=exclude) for _ in range(200)}
    assert picks == set(range(size))


@pytest.mark.parametrize(
    "pixels", [np.arange(784, dtype=np.uint32).reshape(28, 28).astype(np.uint8), np.linspace(0, 1, 784).reshape(28, 28)]
)
def test_png_data_url_round_trips_pixels(pixels: np.ndarray) -> None:
    url = predictions.png_data_url(pixels)
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    expected = pixels if pixels.dtype == np.uint8 else np.round(pixels * 255).astype(np.uint8)
    assert decoded.shape == (28, 28) and np.array_equal(decoded, expected)
