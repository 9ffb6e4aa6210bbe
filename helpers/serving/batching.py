"""Server-side batching with TF Serving's flags and semantics (`--enable_batching`,
`--batching_parameters_file`).

Concurrent predict requests for the same version, signature and per-example input shapes are
queued and run as one batch: rows are concatenated along the first dimension, the signature runs
once, and each request gets its own rows of every output back. Running one image costs the model
almost as much as running several (bench/serving_bench.py), so under load this trades a queue
hand-off for most of the per-call cost. As in TF Serving's BasicBatchScheduler, a batch runs when
it is full (`max_batch_size` rows) or `batch_timeout_micros` after its first request arrived
(0: at once, with whatever has queued while the batch threads were busy), on one of
`num_batch_threads` threads; past `max_enqueued_batches` full batches waiting, a request is refused
with UNAVAILABLE (503). The batching parameters file is the text proto TF Serving reads:

    max_batch_size { value: 32 }
    batch_timeout_micros { value: 0 }
    max_enqueued_batches { value: 100 }
    num_batch_threads { value: 2 }
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import itertools
import os
import pathlib
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from helpers import errors
from helpers.serving import savedmodel, status, textproto


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's BatchingParameters, with the defaults its BasicBatchScheduler uses for unset fields."""

    # Largest batch in rows; a single request with more rows is refused (INVALID_ARGUMENT).
    max_batch_size: int = 1000
    # How long a batch's first request may wait for others; 0 runs what has queued at once.
    batch_timeout_micros: int = 0
    # Full batches allowed to wait before new requests get UNAVAILABLE: bounds memory and latency.
    max_enqueued_batches: int = 10
    # Threads running batches; TensorFlow releases the GIL while a graph runs, so two batches can
    # use two cores. TF Serving's default is the machine's parallelism.
    num_batch_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)


def read_batching_parameters(path: pathlib.Path) -> BatchingParameters:
    """Read and parse a batching parameters file; raises ConfigError when it is unreadable or malformed."""
    return parse_batching_parameters(textproto.read(path, flag="batching_parameters_file"), source=str(path))


def parse_batching_parameters(text: str, *, source: str = "batching parameters") -> BatchingParameters:
    """Parse the BatchingParameters text proto (`name { value: N }` per field); raises ConfigError
    for unknown or unsupported fields and values below 1 (0 for the timeout)."""
    known = {field.name for field in dataclasses.fields(BatchingParameters)}
    tokens = textproto.tokens(text)
    values: dict[str, int] = {}
    index = 0
    while index < len(tokens):
        name = tokens[index]
        rest = tokens[index + 1 : index + 7]
        if rest[:1] == [":"]:
            rest = tokens[index + 2 : index + 8]
            index += 1
        if name not in known:
            raise errors.ConfigError(
                "batching_parameters_file", source, f"field {name!r} is unknown or not supported by the local server"
            )
        if len(rest) < 5 or rest[0] != "{" or rest[1] != "value" or rest[2] != ":" or rest[4] != "}":
            raise errors.ConfigError("batching_parameters_file", source, f"expected {name} {{ value: N }}")
        try:
            value = int(rest[3])
        except ValueError:
            raise errors.ConfigError("batching_parameters_file", source, f"{name} must be an integer") from None
        minimum = 0 if name == "batch_timeout_micros" else 1
        if value < minimum:
            raise errors.ConfigError("batching_parameters_file", source, f"{name} must be at least {minimum}")
        values[name] = value
        index += 6
        if index < len(tokens) and tokens[index] in (",", ";"):
            index += 1
    return BatchingParameters(**values)


@dataclasses.dataclass
class _Task:
    """One request waiting in the queue, and the future its answer goes to."""

    key: tuple[Any, ...]
    served: savedmodel.LoadedVersion
    signature_name: str
    inputs: Mapping[str, np.ndarray]
    rows: int
    enqueued_s: float
    # Gets the outputs, or any exception, not only StatusError: the request re-raises it, so a
    # model's unexpected failure is the same 500 as unbatched, and the batch thread lives on.
    future: concurrent.futures.Future[dict[str, np.ndarray]] = dataclasses.field(
        default_factory=concurrent.futures.Future
    )


def batch_rows(inputs: Mapping[str, np.ndarray]) -> int | None:
    """The inputs' common first (batch) dimension, or None when they have none and cannot be
    joined with others (TF Serving's batching session runs such tensors on their own)."""
    rows = {array.shape[0] if array.ndim else None for array in inputs.values()}
    if len(rows) != 1:
        return None
    (size,) = rows
    return size


class Batcher:
    """Runs predict requests in batches on `num_batch_threads` threads (started by `start`); requests
    come in through `submit` and get a future of their outputs."""

    def __init__(self, parameters: BatchingParameters) -> None:
        self.parameters = parameters
        self._queue: collections.deque[_Task] = collections.deque()
        self._queued_rows = 0
        self._changed = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the batch threads; returns None."""
        for number in range(self.parameters.num_batch_threads):
            thread = threading.Thread(target=self._run, name=f"batch-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Let the batch threads finish what they run and end; queued requests get UNAVAILABLE."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()
        for task in self._queue:
            if task.future.set_running_or_notify_cancel():
                task.future.set_exception(status.StatusError("UNAVAILABLE", "the server is shutting down"))

    def submit(
        self, served: savedmodel.LoadedVersion, signature_name: str, inputs: Mapping[str, np.ndarray], *, rows: int
    ) -> concurrent.futures.Future[dict[str, np.ndarray]]:
        """Queue `served.predict(signature_name, inputs)` to run in a batch with other requests.

        Args:
            rows: the inputs' batch dimension (`batch_rows(inputs)`).
        Returns:
            The future of the outputs: this request's rows of every output, or the batch's error.
        Raises:
            StatusError: INVALID_ARGUMENT past max_batch_size rows, UNAVAILABLE when the queue is full.
        """
        limit = self.parameters.max_batch_size
        if rows > limit:
            raise status.StatusError(
                "INVALID_ARGUMENT", f"Task size {rows} is larger than maximum input batch size {limit}"
            )
        key = (
            id(served),
            signature_name,
            tuple(sorted((name, array.dtype.str, array.shape[1:]) for name, array in inputs.items())),
        )
        task = _Task(key, served, signature_name, inputs, rows, time.monotonic())
        with self._changed:
            if self._stopping:
                raise status.StatusError("UNAVAILABLE", "the server is shutting down")
            if self._queued_rows + rows > self.parameters.max_enqueued_batches * limit:
                raise status.StatusError(
                    "UNAVAILABLE", "The batch scheduling queue to which this task was submitted is full"
                )
            self._queue.append(task)
            self._queued_rows += rows
            self._changed.notify()
        return task.future

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            _run_batch(batch)

    def _next_batch(self) -> list[_Task] | None:
        """The oldest request and the queued ones that join it, once the batch is full or its
        timeout has passed; None when stopping."""
        timeout_s = self.parameters.batch_timeout_micros / 1e6
        limit = self.parameters.max_batch_size
        with self._changed:
            while True:
                if self._stopping:
                    return None
                if not self._queue:
                    self._changed.wait()
                    continue
                first = self._queue[0]
                waited_s = time.monotonic() - first.enqueued_s
                joinable = sum(task.rows for task in self._queue if task.key == first.key)
                if joinable >= limit or waited_s >= timeout_s:
                    break
                self._changed.wait(timeout_s - waited_s)
            batch, rows, kept = [], 0, collections.deque[_Task]()
            for task in self._queue:
                if task.key == first.key and rows + task.rows <= limit:
                    batch.append(task)
                    rows += task.rows
                else:
                    kept.append(task)
            self._queue = kept
            self._queued_rows -= rows
            return batch


def _run_batch(batch: list[_Task]) -> None:
    """Run the tasks as one call and hand each its rows (or the batch's error); returns None.
    Tasks whose request was cancelled meanwhile (its client left) are dropped first."""
    batch = [task for task in batch if task.future.set_running_or_notify_cancel()]
    if not batch:
        return
    first = batch[0]
    try:
        if len(batch) == 1:
            outputs = [first.served.predict(first.signature_name, first.inputs)]
        else:
            joined = {name: np.concatenate([task.inputs[name] for task in batch]) for name in first.inputs}
            outputs = _split(first.served.predict(first.signature_name, joined), [task.rows for task in batch])
    except Exception as e:
        for task in batch:
            task.future.set_exception(e)
        return
    for task, result in zip(batch, outputs, strict=True):
        task.future.set_result(result)


def _split(outputs: Mapping[str, np.ndarray], sizes: list[int]) -> list[dict[str, np.ndarray]]:
    """Each task's rows of every output; raises StatusError(INTERNAL) for an output that is not
    batch-major, as TF Serving's batching session does."""
    total = sum(sizes)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise status.StatusError(
                "INTERNAL",
                f"Batched output tensor {name!r} has first dimension {array.shape[:1]}; the batch has {total} rows",
            )
    bounds = [0, *itertools.accumulate(sizes)]
    return [{name: array[start:end] for name, array in outputs.items()} for start, end in itertools.pairwise(bounds)]
