"""Matplotlib figures the notebooks show: training curves, digits with their probabilities.

The figures are returned, not shown, so a notebook displays them inline, the headless run
keeps them in the executed notebook, and tests can inspect them. They are built as bare
`Figure` objects, not through pyplot, so nothing global is touched and nothing is shown twice.
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
from collections.abc import Sequence

import matplotlib.axes
import matplotlib.figure
import numpy as np
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from helpers import errors

Curves = dict[str, dict[str, tuple[list[int], list[float]]]]
# Dots per inch of the PNG a notebook shows: sharp on a laptop screen, small in the .ipynb.
PNG_DPI = 100


@dataclasses.dataclass(frozen=True)
class Picture:
    """A figure that a notebook displays as a PNG, whatever matplotlib backend the kernel has."""

    figure: matplotlib.figure.Figure

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=PNG_DPI)
        return buffer.getvalue()

    def save(self, path: pathlib.Path) -> pathlib.Path:
        """Write the figure as a PNG file; returns `path`."""
        path.write_bytes(self._repr_png_())
        return path


def read_scalars(logdir: pathlib.Path) -> Curves:
    """Every scalar series under `logdir`: {run: {tag: (steps, values)}}, one run per subfolder
    that holds event files (the logdir itself counts as run ".")."""
    curves: Curves = {}
    for events in sorted(pathlib.Path(logdir).rglob("events.out.tfevents.*")):
        run = str(events.parent.relative_to(logdir))
        if run in curves:
            continue
        accumulator = event_accumulator.EventAccumulator(str(events.parent), size_guidance={"tensors": 0, "scalars": 0})
        accumulator.Reload()
        series: dict[str, tuple[list[int], list[float]]] = {}
        for tag in accumulator.Tags().get("tensors", []):
            points = accumulator.Tensors(tag)
            values = [tensor_util.make_ndarray(point.tensor_proto) for point in points]
            # Only numeric scalars: the graph summary is a 0-d string tensor.
            if values and all(value.ndim == 0 and value.dtype.kind in "fiu" for value in values):
                series[tag] = ([point.step for point in points], [float(value) for value in values])
        for tag in accumulator.Tags().get("scalars", []):
            points = accumulator.Scalars(tag)
            series[tag] = ([point.step for point in points], [point.value for point in points])
        if series:
            curves[run] = series
    return curves


def training_curves(logdir: pathlib.Path, *, tags: Sequence[str] = ()) -> Picture:
    """One panel per scalar tag (all, or those in `tags`), one line per run; raises ConfigError
    when `logdir` holds no scalar summaries yet."""
    curves = read_scalars(logdir)
    found = sorted({tag for series in curves.values() for tag in series})
    wanted = [tag for tag in (tags or found) if tag in found]
    if not wanted:
        raise errors.ConfigError("logdir", str(logdir), "holds no scalar summaries (has training written any yet?)")
    figure = matplotlib.figure.Figure(figsize=(4 * len(wanted), 3), layout="tight")
    axes = figure.subplots(1, len(wanted), squeeze=False)
    for axis, tag in zip(axes[0], wanted, strict=True):
        for run, series in curves.items():
            if tag in series:
                steps, values = series[tag]
                axis.plot(steps, values, marker="." if len(steps) < 20 else None, label=run)
        axis.set_title(tag)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        if len(curves) > 1:
            axis.legend(fontsize="small")
    return Picture(figure)


def _bars(axis: matplotlib.axes.Axes, probabilities: np.ndarray, *, true_label: int | None) -> None:
    predicted = int(np.argmax(probabilities))
    colours = ["tab:green" if digit == predicted else "tab:gray" for digit in range(10)]
    if true_label is not None and predicted != true_label:
        colours[predicted] = "tab:red"
    axis.bar(range(10), probabilities, color=colours)
    axis.set_xticks(range(10))
    axis.set_ylim(0, 1)
    axis.tick_params(labelsize="small")


def predictions_grid(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, *, columns: int = 4) -> Picture:
    """Each digit above its ten probability bars; the title says true and predicted label."""
    if not len(images) == len(labels) == len(probabilities):
        raise ValueError("images, labels and probabilities must have the same length")
    rows = int(np.ceil(len(images) / columns))
    figure = matplotlib.figure.Figure(figsize=(2.4 * columns, 4.2 * rows), layout="tight")
    axes = figure.subplots(2 * rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.set_axis_off()
    for index, (digit, label, probs) in enumerate(zip(images, labels, probabilities, strict=True)):
        row, column = divmod(index, columns)
        picture, bars = axes[2 * row][column], axes[2 * row + 1][column]
        picture.imshow(np.asarray(digit).reshape(28, 28), cmap="gray_r")
        predicted = int(np.argmax(probs))
        mark = "✓" if predicted == int(label) else "✗"
        picture.set_title(f"true {int(label)} · predicted {predicted} {mark}", fontsize="small")
        bars.set_axis_on()
        _bars(bars, np.asarray(probs), true_label=int(label))
    return Picture(figure)


def digit_with_probabilities(image: np.ndarray, label: int, probabilities: np.ndarray) -> Picture:
    """One digit beside its probability bars: what the web UI's page shows."""
    figure = matplotlib.figure.Figure(figsize=(8, 3.2), layout="tight")
    picture, bars = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2]})
    picture.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r")
    picture.set_axis_off()
    picture.set_title(f"true label {label}")
    _bars(bars, np.asarray(probabilities), true_label=label)
    bars.set_title(f"predicted {int(np.argmax(probabilities))} ({float(np.max(probabilities)):.1%})")
    return Picture(figure)
