"""Turn a drawing into what the model was trained on: an MNIST-style 28x28 digit.

MNIST digits were cropped, scaled so the longer side fits 20 pixels, and placed in a 28x28
field with their centre of mass at the centre. A drawing that skips these steps (a small
digit in a corner, a digit filling the canvas) is classified badly, so the UI repeats them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from webui import errors

# MNIST images are 28x28; the model takes nothing else.
FIELD_PX = 28
# MNIST's size normalisation: the longer side of every digit's bounding box is 20 pixels.
BOX_PX = 20
# Ink below this level is anti-aliasing haze or scanner noise, not part of the digit's box.
INK_THRESHOLD = 0.1


def to_mnist(ink: np.ndarray) -> np.ndarray:
    """A float32 [28, 28] image in [0, 1], centred by mass, from a 2-D ink image in [0, 1].

    Ink is bright on a dark background, as in MNIST. Raises BadInput when nothing is drawn.
    """
    rows = np.flatnonzero(ink.max(axis=1) > INK_THRESHOLD)
    columns = np.flatnonzero(ink.max(axis=0) > INK_THRESHOLD)
    if rows.size == 0:
        raise errors.BadInput("the drawing is empty: draw a digit first")
    digit = ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1].astype(np.float32)
    scale = BOX_PX / max(digit.shape)
    height, width = (max(1, round(side * scale)) for side in digit.shape)
    resized = Image.fromarray(digit).resize((width, height), Image.Resampling.LANCZOS)
    digit = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    top = _offset(digit.sum(axis=1), FIELD_PX)
    left = _offset(digit.sum(axis=0), FIELD_PX)
    field = np.zeros((FIELD_PX, FIELD_PX), dtype=np.float32)
    field[top : top + height, left : left + width] = digit
    return field


def _offset(mass: np.ndarray, field_px: int) -> int:
    """Where to put a digit with this mass profile so its centre of mass is the field's centre,
    kept inside the field."""
    total = float(mass.sum())
    centre = float(np.dot(np.arange(len(mass)), mass)) / total if total > 0 else (len(mass) - 1) / 2
    offset = round((field_px - 1) / 2 - centre)
    return min(max(offset, 0), field_px - len(mass))
