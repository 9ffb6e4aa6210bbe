"""Server-side batching: TF Serving's parameters file, concurrent requests joined into one call with
each answer its own rows, and the same REST answers as without batching."""

from __future__ import annotations

import concurrent.futures
import threading

import numpy as np
import pytest

from helpers import errors
from helpers.serving import api, batching, metrics, savedmodel, status
from tests.serving.app_client import Client

MODEL = "/v1/models/mnist"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", batching.BatchingParameters()),
        (
            "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 500 }\n"
            "max_enqueued_batches { value: 4 }\nnum_batch_threads { value: 1 }\n",
            batching.BatchingParameters(
                max_batch_size=32, batch_timeout_micros=500, max_enqueued_batches=4, num_batch_threads=1
            ),
        ),
        ("# a comment\nmax_batch_size: { value: 8 },", batching.BatchingParameters(max_batch_size=8)),
    ],
)
def test_batching_parameters_are_parsed(text: str, expected: batching.BatchingParameters) -> None:
    assert batching.parse_batching_parameters(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "allowed_batch_sizes: 8",
        "pad_variable_length_inputs { value: true }",
        "max_batch_size { value: 0 }",
        "max_batch_size { value: x }",
        "max_batch_size 8",
        "max_batch_size { value: 8 ",
    ],
)
def test_unsupported_batching_parameters_are_config_errors(text: str) -> None:
    with pytest.raises(errors.ConfigError, match="batching_parameters_file"):
        batching.parse_batching_parameters(text)


def _predict(batcher: batching.Batcher, served, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What a request gets: its outputs, or the batch's error raised."""
    rows = batching.batch_rows(inputs)
    assert rows is not None
    return batcher.submit(served, "serving_default", inputs, rows=rows).result(30)


class _Recording:
    """A version whose predict records the batch sizes it is called with and waits at a gate, so
    the test decides which requests queue up behind a running batch."""

    version = 1

    def __init__(self, served: savedmodel.LoadedVersion) -> None:
        self.served = served
        self.calls: list[int] = []
        self.gate = threading.Event()

    def predict(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls.append(len(inputs["x"]))
        self.gate.wait(30)
        return self.served.predict(signature_name, inputs)


def test_queued_requests_run_as_one_batch_and_get_their_own_rows(manager, exported) -> None:
    recording = _Recording(manager.servable("mnist", None))
    batcher = batching.Batcher(batching.BatchingParameters(num_batch_threads=1))
    batcher.start()
    rng = np.random.default_rng(3)
    requests = [rng.random((size, 28, 28), dtype=np.float32) for size in (1, 2, 1, 3)]
    try:
        with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
            first = pool.submit(_predict, batcher, recording, {"x": requests[0]})
            while not recording.calls:  # the first request is running; the others queue behind it
                threading.Event().wait(0.01)
            rest = [pool.submit(_predict, batcher, recording, {"x": x}) for x in requests[1:]]
            while batcher._queued_rows < 6:
                threading.Event().wait(0.01)
            recording.gate.set()
            answers = [first.result(30)] + [future.result(30) for future in rest]
    finally:
        batcher.stop()
    assert recording.calls == [1, 6]
    for images, answer in zip(requests, answers, strict=True):
        np.testing.assert_allclose(answer["predictions"], exported[1].expected(images), rtol=1e-5, atol=1e-6)
        assert answer["classes"].tolist() == answer["predictions"].argmax(axis=1).tolist()


class _Failing:
    """A version whose predict fails the way no model error should: with a plain exception."""

    version = 1

    def predict(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise RuntimeError("the model broke")


def test_an_unexpected_error_reaches_the_request_and_the_batch_thread_lives_on(manager) -> None:
    batcher = batching.Batcher(batching.BatchingParameters(num_batch_threads=1))
    batcher.start()
    image = {"x": np.zeros((1, 28, 28), "f")}
    try:
        with pytest.raises(RuntimeError, match="the model broke"):
            _predict(batcher, _Failing(), image)
        answer = _predict(batcher, manager.servable("mnist", None), image)
    finally:
        batcher.stop()
    assert answer["predictions"].shape == (1, 10)


def test_a_request_larger_than_max_batch_size_is_refused(manager) -> None:
    batcher = batching.Batcher(batching.BatchingParameters(max_batch_size=2, num_batch_threads=1))
    batcher.start()
    try:
        with pytest.raises(status.StatusError, match="larger than maximum input batch size 2") as raised:
            _predict(batcher, manager.servable("mnist", None), {"x": np.zeros((3, 28, 28), "f")})
    finally:
        batcher.stop()
    assert raised.value.code == "INVALID_ARGUMENT"


def test_outputs_that_are_not_batch_major_are_an_internal_error() -> None:
    with pytest.raises(status.StatusError, match="first dimension") as raised:
        batching._split({"total": np.zeros(())}, [1, 2])
    assert raised.value.code == "INTERNAL"


def test_the_app_answers_the_same_with_batching(manager, executor, exported, images) -> None:
    batcher = batching.Batcher(batching.BatchingParameters())
    batcher.start()
    settings = {
        "manager": manager,
        "monitoring": metrics.MonitoringConfig(),
        "max_body_bytes": 1 << 20,
        "timeout_s": 30.0,
        "executor": executor,
    }
    app = Client(api.create_app(**settings, batcher=batcher))
    plain = Client(api.create_app(**settings))
    bodies = [
        {"instances": images.tolist()},
        {"inputs": {"x": images.tolist()}},
        {"instances": images[0].tolist()},
        {"instances": []},
        {"signature_name": "nope", "instances": images.tolist()},
    ]
    try:
        for body in bodies:
            batched = app.post(f"{MODEL}:predict", json=body)
            alone = plain.post(f"{MODEL}:predict", json=body)
            assert (batched.status_code, batched.json) == (alone.status_code, alone.json)
    finally:
        batcher.stop()
