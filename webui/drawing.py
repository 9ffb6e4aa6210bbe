"""Read and check the drawing a client posts to /api/classify, strictly.

Two forms are accepted: `{"image": [[...28 numbers in [0, 1]...] x 28]}` and
`{"image": "data:image/png;base64,..."}` (what a canvas' `toDataURL()` gives). Anything
else is refused with a message, because the model would otherwise answer garbage for it.
"""

from __future__ import annotations

import base64
import binascii
import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from webui import errors

# A drawing given as numbers is already MNIST-sized.
ROWS_SHAPE = (28, 28)
PNG_DATA_URL_PREFIX = "data:image/png;base64,"
# Larger than any canvas a page draws on, small enough that decoding cannot exhaust memory.
MAX_SIDE_PX = 2048


def parse(payload: object) -> np.ndarray:
    """The drawing in a request body as a float32 ink image in [0, 1], ink bright on dark.

    Raises BadInput naming what is wrong (not an object, no image, wrong size, bad number, bad PNG).
    """
    if not isinstance(payload, dict) or "image" not in payload:
        raise errors.BadInput('expected a JSON object {"image": <28x28 list of numbers or PNG data URL>}')
    image = payload["image"]
    if isinstance(image, str):
        return from_png_data_url(image)
    if isinstance(image, list):
        return from_rows(image)
    raise errors.BadInput(f'"image" must be a 28x28 list of numbers or a PNG data URL, not {type(image).__name__}')


def from_rows(rows: list[object]) -> np.ndarray:
    """A [28, 28] list of numbers in [0, 1] as a float32 array; raises BadInput."""
    if len(rows) != ROWS_SHAPE[0]:
        raise errors.BadInput(f"the drawing must have {ROWS_SHAPE[0]} rows, not {len(rows)}")
    for row_index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != ROWS_SHAPE[1]:
            length = len(row) if isinstance(row, list) else type(row).__name__
            raise errors.BadInput(
                f"row {row_index} of the drawing must be a list of {ROWS_SHAPE[1]} numbers, not {length}"
            )
        for value in row:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise errors.BadInput(f"row {row_index} holds {value!r}; every pixel must be a number")
            # Compared, never converted: NaN fails the comparison and an int too large for a float stays exact.
            if not 0.0 <= value <= 1.0:
                raise errors.BadInput(f"row {row_index} holds {value!r}; every pixel must lie in [0, 1]")
    return np.array(rows, dtype=np.float32)


def from_png_data_url(url: str) -> np.ndarray:
    """A PNG data URL as a float32 ink image in [0, 1], ink bright on dark; raises BadInput.

    On a transparent canvas the opacity is the ink; on an opaque one the brightness is, inverted
    when the border is light (dark ink on paper) to match MNIST's light-on-dark.
    """
    if not url.startswith(PNG_DATA_URL_PREFIX):
        raise errors.BadInput(f"a drawing given as text must be a data URL starting with {PNG_DATA_URL_PREFIX!r}")
    try:
        content = base64.b64decode(url.removeprefix(PNG_DATA_URL_PREFIX), validate=True)
    except (binascii.Error, ValueError) as e:
        raise errors.BadInput("the PNG data URL is not valid base64") from e
    try:
        with Image.open(io.BytesIO(content), formats=["PNG"]) as image:
            if max(image.size) > MAX_SIDE_PX:
                raise errors.BadInput(f"the PNG is {image.width}x{image.height}; at most {MAX_SIDE_PX} px a side")
            rgba = image.convert("RGBA")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow refuses (or, from 89 M pixels, warns about) a huge declared size before our own limit is seen.
        raise errors.BadInput(f"the PNG is too large; at most {MAX_SIDE_PX} px a side") from e
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise errors.BadInput("the data URL does not hold a readable PNG image") from e
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
    if alpha.min() < 1.0:
        # A transparent canvas: whatever was painted is ink, whatever its colour.
        return alpha
    gray = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return 1.0 - gray if border.mean() > 0.5 else gray
