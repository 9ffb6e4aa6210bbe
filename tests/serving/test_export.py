"""The export helper writes exactly the serving contract's signature."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def test_export_has_the_contract_signature(exported) -> None:
    signature = tf.saved_model.load(str(exported[1].path)).signatures["serving_default"]
    _, inputs = signature.structured_input_signature
    assert list(inputs) == ["x"]
    assert inputs["x"].dtype == tf.float32 and inputs["x"].shape.as_list() == [None, 28, 28]
    outputs = signature(x=tf.zeros([2, 28, 28]))
    assert outputs["predictions"].dtype == tf.float32 and outputs["predictions"].shape == (2, 10)
    assert outputs["classes"].dtype == tf.int64 and outputs["classes"].shape == (2,)
    np.testing.assert_allclose(outputs["predictions"].numpy().sum(axis=1), 1.0, rtol=1e-5)
