"""MNIST-style pre-processing of drawings: crop, scale the longer side to 20 px, centre by mass."""

from __future__ import annotations

import numpy as np
import pytest
from webui_testing import render_digit

from webui import errors, preprocess


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, column) of the image's centre of mass."""
    rows, columns = np.indices(image.shape)
    total = image.sum()
    return float((rows * image).sum() / total), float((columns * image).sum() / total)


def test_small_digit_in_a_corner_is_scaled_to_20_px_and_centred() -> None:
    ink = np.zeros((280, 280), dtype=np.float32)
    ink[10:60, 20:40] = 1.0  # a 50x20 bar near the top-left corner
    image = preprocess.to_mnist(ink)
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    rows = np.flatnonzero(image.max(axis=1) > preprocess.INK_THRESHOLD)
    columns = np.flatnonzero(image.max(axis=0) > preprocess.INK_THRESHOLD)
    assert rows[-1] - rows[0] + 1 == preprocess.BOX_PX  # the longer side is 20 px
    assert columns[-1] - columns[0] + 1 == 8  # 20 * 20/50, the aspect ratio kept
    row, column = centre_of_mass(image)
    assert abs(row - 13.5) <= 0.5 and abs(column - 13.5) <= 0.5


def test_lopsided_digit_is_centred_by_mass_not_by_box() -> None:
    ink = np.zeros((100, 100), dtype=np.float32)
    ink[20:80, 20:80] = 0.2  # faint square...
    ink[20:80, 70:80] = 1.0  # ...with heavy ink on its right edge
    image = preprocess.to_mnist(ink)
    columns = np.flatnonzero(image.max(axis=0) > preprocess.INK_THRESHOLD)
    box_centre = (columns[0] + columns[-1]) / 2
    _, column = centre_of_mass(image)
    assert abs(column - 13.5) <= 0.5
    assert box_centre < 13.0  # the box moved left so that the mass sits in the middle


def test_an_mnist_style_digit_comes_back_nearly_unchanged() -> None:
    once = preprocess.to_mnist(render_digit(3).astype(np.float32) / 255.0)
    twice = preprocess.to_mnist(once)
    assert np.corrcoef(once.ravel(), twice.ravel())[0, 1] > 0.95


def test_digit_touching_the_edge_stays_inside_the_field() -> None:
    ink = np.zeros((50, 50), dtype=np.float32)
    ink[0:50, 0:2] = 1.0
    ink[0:2, 0:50] = 1.0  # an L whose mass sits in its corner
    image = preprocess.to_mnist(ink)
    rows = np.flatnonzero(image.max(axis=1) > preprocess.INK_THRESHOLD)
    columns = np.flatnonzero(image.max(axis=0) > preprocess.INK_THRESHOLD)
    # Centring by mass alone would push the corner to the middle and cut the arms off.
    assert rows[-1] - rows[0] + 1 == preprocess.BOX_PX
    assert columns[-1] - columns[0] + 1 == preprocess.BOX_PX


@pytest.mark.parametrize("ink", [np.zeros((28, 28)), np.full((40, 40), preprocess.INK_THRESHOLD / 2)])
def test_empty_drawing_is_refused(ink: np.ndarray) -> None:
    with pytest.raises(errors.BadInput, match="empty"):
        preprocess.to_mnist(ink)
