"""Write a Keras classifier as the SavedModel that the serving stack expects (the MNIST contract).

Signature `serving_default`: input `x` float32 [None, 28, 28] pixels in [0, 1]; outputs
`predictions` float32 softmax [None, 10] and `classes` int64 [None]. The one exporter: model/model.py
exports through it (the training image copies this module), and so do the serving tests and the
benchmark. It writes the completion marker last, so the server takes a version only once it is whole.
"""

from __future__ import annotations

import pathlib

import keras
import tensorflow as tf

from helpers.aws import s3

INPUT_NAME = "x"
IMAGE_SHAPE = (28, 28)


class _Servable(tf.Module):  # type: ignore[misc]  # TensorFlow ships no type hints
    """Wraps the model so that its export has exactly the contract's signature."""

    def __init__(self, model: keras.Model) -> None:
        super().__init__()
        self.model = model

    @tf.function(  # type: ignore[untyped-decorator]
        input_signature=[tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32, name=INPUT_NAME)]
    )
    def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.cast(self.model(x, training=False), tf.float32)
        return {"predictions": probabilities, "classes": tf.argmax(probabilities, axis=-1, output_type=tf.int64)}


def export_classifier(model: keras.Model, directory: pathlib.Path) -> None:
    """Save `model` (images [N, 28, 28] -> softmax [N, 10]) as a SavedModel in `directory`, then its
    completion marker; returns None."""
    servable = _Servable(model)
    tf.saved_model.save(servable, str(directory), signatures={"serving_default": servable.serve})
    s3.write_marker(directory)
