"""Loading one version: the contract's signature, compiled inference, TF Serving-shaped metadata."""

from __future__ import annotations

import pathlib
import shutil

import numpy as np
import pytest

from helpers.serving import savedmodel, status


def test_loaded_version_predicts_like_the_model(exported: dict, images: np.ndarray) -> None:
    loaded = savedmodel.load(exported[1].path, version=1)
    outputs = loaded.predict("serving_default", {"x": images})
    np.testing.assert_allclose(outputs["predictions"], exported[1].expected(images), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outputs["classes"], outputs["predictions"].argmax(axis=1))
    assert outputs["classes"].dtype == np.int64


def test_signature_defs_are_printed_like_tf_serving(exported: dict) -> None:
    signature = savedmodel.load(exported[1].path, version=1).signature_defs["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert signature["inputs"]["x"]["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}, {"size": "28", "name": ""}, {"size": "28", "name": ""}],
        "unknown_rank": False,
    }
    assert signature["outputs"]["predictions"]["dtype"] == "DT_FLOAT"
    assert signature["outputs"]["classes"]["dtype"] == "DT_INT64"
    assert signature["defaults"] == {}


def test_unknown_signature_is_invalid_argument(exported: dict) -> None:
    loaded = savedmodel.load(exported[1].path, version=1)
    with pytest.raises(status.StatusError, match='"nope" not found in signature def') as caught:
        loaded.input_specs("nope")
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        ("empty", "NOT_FOUND"),
        ("garbage_pb", "DATA_LOSS"),
        ("no_variables", "UNKNOWN"),
    ],
)
def test_broken_directories_raise_status_errors(tmp_path: pathlib.Path, exported: dict, damage: str, code: str) -> None:
    broken = tmp_path / "3"
    if damage == "empty":
        broken.mkdir()
    elif damage == "garbage_pb":
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"\x08\x96\x01 this is not a SavedModel \xff\xff")
    else:
        shutil.copytree(exported[1].path, broken)
        shutil.rmtree(broken / "variables")
    with pytest.raises(status.StatusError) as caught:
        savedmodel.load(broken, version=3)
    assert caught.value.code == code
