"""The accuracy of served predictions: argmax against the labels, refused when the shapes differ."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import scoring


def test_accuracy_is_the_share_of_argmax_hits() -> None:
    probabilities = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert scoring.accuracy(probabilities, [1, 0, 0, 1]) == 0.5


@pytest.mark.parametrize(("probabilities", "labels"), [(np.ones((3, 10)), [1, 2]), (np.ones((0, 10)), [])])
def test_mismatched_or_empty_inputs_are_refused(probabilities: np.ndarray, labels: list[int]) -> None:
    with pytest.raises(ValueError, match="predictions for labels"):
        scoring.accuracy(probabilities, labels)
