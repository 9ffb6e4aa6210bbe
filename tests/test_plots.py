"""Figures: curves read back from real event files, digit grids."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from helpers import errors, plots


@pytest.fixture
def logdir(tmp_path: pathlib.Path) -> pathlib.Path:
    import tensorflow as tf

    for run, offset in (("train", 0.0), ("eval", 0.1)):
        writer = tf.summary.create_file_writer(str(tmp_path / run))
        with writer.as_default():
            for step in range(5):
                tf.summary.scalar("loss", 1.0 / (step + 1) + offset, step=step)
                tf.summary.scalar("accuracy", 0.5 + step / 10, step=step)
        writer.close()
    return tmp_path


def test_read_scalars_finds_every_run_and_tag(logdir: pathlib.Path) -> None:
    curves = plots.read_scalars(logdir)
    assert set(curves) == {"train", "eval"}
    steps, values = curves["train"]["loss"]
    assert steps == [0, 1, 2, 3, 4]
    assert values[0] == pytest.approx(1.0) and values[-1] == pytest.approx(0.2)


def test_training_curves_one_panel_per_tag(logdir: pathlib.Path) -> None:
    figure = plots.training_curves(logdir, tags=["loss", "accuracy", "missing"]).figure
    titles = [axis.get_title() for axis in figure.axes]
    assert titles == ["loss", "accuracy"]
    assert len(figure.axes[0].lines) == 2


def test_empty_logdir_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError, match="no scalar summaries"):
        plots.training_curves(tmp_path)


def test_predictions_grid_titles_say_right_and_wrong() -> None:
    images = np.zeros((3, 28, 28), dtype=np.float32)
    probabilities = np.eye(10, dtype=np.float32)[[1, 2, 3]]
    figure = plots.predictions_grid(images, np.array([1, 2, 4]), probabilities, columns=2).figure
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles == ["true 1 · predicted 1 ✓", "true 2 · predicted 2 ✓", "true 4 · predicted 3 ✗"]


def test_digit_with_probabilities_names_the_prediction() -> None:
    probabilities = np.full(10, 0.02, dtype=np.float32)
    probabilities[7] = 0.82
    picture = plots.digit_with_probabilities(np.zeros((28, 28)), 7, probabilities)
    assert "predicted 7 (82.0%)" in picture.figure.axes[1].get_title()
    assert picture._repr_png_().startswith(b"\x89PNG"), "notebooks show it as a PNG"
