"""What the page and the API show: a test example or a drawing, with the model's prediction.

Both views (the HTML page and the JSON API) return the same shapes, so they are built here once.
"""

from __future__ import annotations

import base64
import io
import random
from typing import TypedDict

import numpy as np
from PIL import Image

from webui import data, model_client, preprocess


class Prediction(TypedDict):
    """The model's answer: ten class probabilities and the most probable class."""

    probabilities: list[float]
    predicted: int


class RandomExample(Prediction):
    """A test-set example: its index, true label and image (a PNG data URL)."""

    index: int
    label: int
    image: str


class DrawingResult(Prediction):
    """A classified drawing and the 28x28 image (a PNG data URL) the model was given."""

    image: str


def png_data_url(pixels: np.ndarray) -> str:
    """A [28, 28] image (uint8, or float in [0, 1]) as a grayscale PNG data URL."""
    if pixels.dtype != np.uint8:
        pixels = np.round(np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def pick_index(*, size: int, rng: random.Random, exclude: int | None = None) -> int:
    """A random index below `size`, never `exclude` when there is another, so 'another' changes."""
    if exclude is None or size < 2 or not 0 <= exclude < size:
        return rng.randrange(size)
    index = rng.randrange(size - 1)
    return index + 1 if index >= exclude else index


def _prediction(client: model_client.ModelClient, image: np.ndarray) -> Prediction:
    probabilities = client.predict(image[np.newaxis])[0]
    return Prediction(probabilities=probabilities.tolist(), predicted=int(np.argmax(probabilities)))


def random_example(
    *,
    test_set: data.TestSet,
    client: model_client.ModelClient,
    rng: random.Random,
    exclude: int | None = None,
) -> RandomExample:
    """A random test example (not `exclude`) with its prediction; raises ModelServerError."""
    index = pick_index(size=len(test_set), rng=rng, exclude=exclude)
    pixels = test_set.images[index]
    prediction = _prediction(client, pixels.astype(np.float32) / 255.0)
    return RandomExample(index=index, label=int(test_set.labels[index]), image=png_data_url(pixels), **prediction)


def classify(*, client: model_client.ModelClient, ink: np.ndarray) -> DrawingResult:
    """The prediction for a drawing after MNIST-style pre-processing; raises BadInput, ModelServerError."""
    image = preprocess.to_mnist(ink)
    return DrawingResult(image=png_data_url(image), **_prediction(client, image))
