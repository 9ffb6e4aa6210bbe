"""JSON <-> tensor conversion: TF Serving's row and columnar formats and every rejection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from helpers.serving import status, tensors

IMAGE = {"x": tensors.InputSpec(dtype=np.dtype(np.float32), shape=(None, 2, 2))}
TWO_INPUTS = {
    "a": tensors.InputSpec(dtype=np.dtype(np.float32), shape=(None,)),
    "b": tensors.InputSpec(dtype=np.dtype(np.int32), shape=(None,)),
}
PIXELS = [[0.0, 0.5], [1.0, 0.25]]


def _inputs(document: dict, specs: dict = IMAGE) -> dict[str, np.ndarray]:
    return tensors.to_inputs(tensors.parse_predict(document), specs)


def test_row_format_stacks_bare_instances() -> None:
    arrays = _inputs({"instances": [PIXELS, PIXELS]})
    assert arrays["x"].dtype == np.float32
    assert arrays["x"].shape == (2, 2, 2)


def test_row_format_accepts_objects_keyed_by_input_name() -> None:
    arrays = _inputs({"instances": [{"a": 1.5, "b": 2}, {"a": 3, "b": 4}]}, TWO_INPUTS)
    np.testing.assert_array_equal(arrays["a"], np.array([1.5, 3], dtype=np.float32))
    assert arrays["b"].dtype == np.int32


def test_columnar_format_accepts_a_bare_single_input_and_named_inputs() -> None:
    assert _inputs({"inputs": [PIXELS]})["x"].shape == (1, 2, 2)
    assert _inputs({"inputs": {"x": [PIXELS]}})["x"].shape == (1, 2, 2)


def test_signature_name_defaults_to_serving_default() -> None:
    assert tensors.parse_predict({"instances": [1]}).signature_name == "serving_default"
    assert tensors.parse_predict({"signature_name": "", "instances": [1]}).signature_name == "serving_default"
    assert tensors.parse_predict({"signature_name": "other", "inputs": [1]}).signature_name == "other"


def test_nan_and_infinity_pass_like_tf_serving() -> None:
    arrays = _inputs({"inputs": [[[float("nan"), float("inf")], [0, 1]]]})
    assert np.isnan(arrays["x"][0, 0, 0]) and np.isinf(arrays["x"][0, 0, 1])


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[0.0003006458282470703, 1, -0.5e-3]]}',
        b'{"inputs": [NaN, Infinity, -Infinity, 1e400]}',
        b'{"instances": [' + str(2**70).encode() + b", " + str(-(2**64)).encode() + b", 18446744073709551615]}",
        b'{"instances": [1234567890123456789012.5, 1e0000000000000000000002]}',
        b'\xef\xbb\xbf{"instances": [1]}',
        '{"instances": [1], "signature_name": "s"}'.encode("utf-16"),
        b'{"a": 1, "a": [2, {"b": "\\u00e9\\ud800"}], "c": [true, false, null]}',
    ],
)
def test_bodies_read_exactly_as_json_reads_them(body: bytes) -> None:
    assert repr(tensors.parse_body(body)) == repr(json.loads(body))


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20,
)


@given(document=st.dictionaries(st.text(max_size=4), _JSON_VALUES, max_size=4))
def test_any_document_reads_as_json_reads_it(document: dict) -> None:
    body = json.dumps(document).encode()
    assert repr(tensors.parse_body(body)) == repr(json.loads(body))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "JSON Parse error"),
        (b"instances = [1, 2]", "JSON Parse error"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe\x00", "JSON Parse error"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON Parse error"),
    ],
)
def test_bad_json_is_invalid_argument(body: bytes, message: str) -> None:
    with pytest.raises(status.StatusError, match=message) as caught:
        tensors.parse_body(body)
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"instances": [PIXELS], "inputs": [PIXELS]}, "only one of 'inputs' or 'instances'"),
        ({"signature_name": "serving_default"}, "Missing 'inputs' or 'instances' key"),
        ({"signature_name": 100, "instances": [PIXELS]}, "'signature_name' key must be a string"),
        ({"instances": []}, "non-empty JSON list"),
        ({"instances": PIXELS[0][0]}, "non-empty JSON list"),
        ({"instances": [PIXELS, {"x": PIXELS}]}, "must all be objects"),
        ({"instances": [{"y": PIXELS}]}, "exactly the inputs"),
        ({"inputs": {"x": [PIXELS], "y": 1}}, "exactly the inputs"),
        ({"inputs": [PIXELS[0]]}, r"expected shape \[-1,2,2\], got \[1, 2\]"),
        ({"inputs": [[[0, 1], [2]]]}, "dense tensor"),
        ({"inputs": [[["a", "b"], ["c", "d"]]]}, "not of expected type: float32"),
        ({"inputs": [[[True, False], [True, True]]]}, "not of expected type: float32"),
        ({"inputs": [[[None, 1], [1, 1]]]}, "not of expected type: float32"),
        ({"inputs": [[[1e300, 1], [1, 1]]]}, "without loss of precision"),
        ({"inputs": [[[10**400, 1], [1, 1]]]}, "not of expected type"),
    ],
)
def test_malformed_requests_are_invalid_argument(document: dict, message: str) -> None:
    with pytest.raises(status.StatusError, match=message) as caught:
        _inputs(document)
    assert caught.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"inputs": {"a": [1.5], "b": [0.5]}}, "not of expected type: int32"),
        ({"inputs": {"a": [1.5], "b": [2**40]}}, "out of range for int32"),
        ({"inputs": [1.0]}, "must be an object keyed by input name"),
        ({"instances": [1.0, 2.0]}, "must all be objects"),
    ],
)
def test_several_inputs_need_names_and_their_own_dtypes(document: dict, message: str) -> None:
    with pytest.raises(status.StatusError, match=message):
        _inputs(document, TWO_INPUTS)


def test_row_response_with_several_outputs_is_one_object_per_row() -> None:
    outputs = {"predictions": np.array([[0.25, 0.75], [1.0, 0.0]], np.float32), "classes": np.array([1, 0])}
    assert tensors.to_json(outputs, tensors.ROW) == {
        "predictions": [{"predictions": [0.25, 0.75], "classes": 1}, {"predictions": [1.0, 0.0], "classes": 0}]
    }


def test_columnar_response_is_keyed_by_output_and_a_single_output_is_bare() -> None:
    outputs = {"predictions": np.array([[0.5, 0.5]], np.float32), "classes": np.array([0])}
    assert tensors.to_json(outputs, tensors.COLUMNAR) == {"outputs": {"predictions": [[0.5, 0.5]], "classes": [0]}}
    assert tensors.to_json({"y": np.array([2.5])}, tensors.COLUMNAR) == {"outputs": [2.5]}
    assert tensors.to_json({"y": np.array([2.5])}, tensors.ROW) == {"predictions": [2.5]}


def test_row_response_needs_one_batch_size() -> None:
    with pytest.raises(status.StatusError, match="one batch size"):
        tensors.to_json({"a": np.zeros(2), "b": np.zeros(3)}, tensors.ROW)
