"""How well a model's answers match the labels: the accuracy notebook 05 measures on the served model.

One definition, so the accuracy 05 shows for the server is computed the way a reader expects: the
share of digits whose most probable class is the true label.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def accuracy(probabilities: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The share of rows of `probabilities` ([N, classes]) whose largest entry is at `labels` ([N]).

    Raises ValueError when the two do not describe the same number of digits, or there are none.
    """
    predicted = np.asarray(probabilities).argmax(axis=-1)
    expected = np.asarray(labels)
    if predicted.shape != expected.shape or not expected.size:
        raise ValueError(
            f"{predicted.shape[0] if predicted.ndim else 0} predictions for labels of shape {expected.shape}"
        )
    return float(np.mean(predicted == expected))
