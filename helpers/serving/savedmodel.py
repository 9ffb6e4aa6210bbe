"""Load one SavedModel version and run its signatures as compiled graphs.

Inference calls the signature's concrete function (a compiled graph, ~1 ms per image) and never
`model.predict` (~55 ms). The signature_def metadata is read from saved_model.pb and printed the
way TF Serving prints it, so /metadata answers look the same locally and on a cluster.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf
from google.protobuf import json_format, message as protobuf_message, text_format
from tensorflow.core.protobuf import saved_model_pb2

from helpers.serving import status, tensors

logger = logging.getLogger(__name__)

SERVE_TAG = "serve"
# tf.errors' numeric codes by TF Serving's code names, to report a model's own errors faithfully.
_CODE_NAMES = {getattr(tf.errors, name): name for name in status.HTTP_STATUS if hasattr(tf.errors, name)}


class LoadedVersion:
    """One loaded, warmed-up version of a model: its signatures and their metadata."""

    def __init__(
        self,
        *,
        version: int,
        functions: Mapping[str, Callable[..., Mapping[str, tf.Tensor]]],
        signature_defs: dict[str, Any],
        owner: object = None,
    ) -> None:
        self.version = version
        self.signature_defs = signature_defs
        # The loaded trackable object: the signature functions need its variables alive.
        self._owner = owner
        self._functions = dict(functions)
        self._specs = {name: _input_specs(function) for name, function in self._functions.items()}

    def input_specs(self, signature_name: str) -> dict[str, tensors.InputSpec]:
        """The inputs `signature_name` takes; raises StatusError(INVALID_ARGUMENT) for an unknown signature."""
        try:
            return self._specs[signature_name]
        except KeyError:
            raise status.StatusError(
                "INVALID_ARGUMENT", f'Serving signature name: "{signature_name}" not found in signature def'
            ) from None

    def predict(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run `signature_name` on checked inputs; a model-side error becomes a StatusError with TF's code."""
        self.input_specs(signature_name)
        try:
            outputs = self._functions[signature_name](**{name: tf.constant(array) for name, array in inputs.items()})
        except tf.errors.OpError as e:
            raise status.StatusError(_CODE_NAMES.get(e.error_code, "UNKNOWN"), e.message) from e
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def warm_up(self) -> None:
        """Run every signature once on zeros (batch 1); returns None, raises what `predict` raises.

        A model that loads but cannot run thus never serves, and the first real request does not
        pay for graph optimisation.
        """
        for name, specs in self._specs.items():
            if any(spec.shape is None or spec.dtype.kind not in "fiub" for spec in specs.values()):
                continue
            zeros = {
                input_name: np.zeros([1 if size is None else size for size in spec.shape or ()], dtype=spec.dtype)
                for input_name, spec in specs.items()
            }
            self.predict(name, zeros)


def _input_specs(function: Any) -> dict[str, tensors.InputSpec]:
    _, keyword_specs = function.structured_input_signature
    return {
        name: tensors.InputSpec(
            dtype=np.dtype(spec.dtype.as_numpy_dtype),
            shape=None if spec.shape.rank is None else tuple(spec.shape.as_list()),
        )
        for name, spec in keyword_specs.items()
    }


def load(path: pathlib.Path, *, version: int) -> LoadedVersion:
    """Load, check and warm up the SavedModel in `path`.

    Raises StatusError (NOT_FOUND when there is no saved_model.pb, else the load error) when the
    directory cannot serve, so the caller can keep serving the previous version.
    """
    signature_defs = _read_signature_defs(path)
    try:
        loaded = tf.saved_model.load(str(path), tags=[SERVE_TAG])
        result = LoadedVersion(
            version=version, functions=dict(loaded.signatures), signature_defs=signature_defs, owner=loaded
        )
        result.warm_up()
    except status.StatusError:
        raise
    except Exception as e:
        # A SavedModel is untrusted input: TF raises OpError, ValueError, KeyError, DecodeError and more
        # for damaged ones, and every one of them only means "this version cannot serve".
        raise status.StatusError("UNKNOWN", f"loading {path} failed: {type(e).__name__}: {e}") from e
    return result


def _read_signature_defs(path: pathlib.Path) -> dict[str, Any]:
    binary, text = path / "saved_model.pb", path / "saved_model.pbtxt"
    saved_model = saved_model_pb2.SavedModel()
    try:
        if binary.is_file():
            saved_model.ParseFromString(binary.read_bytes())
        elif text.is_file():
            text_format.Parse(text.read_text(), saved_model)
        else:
            raise status.StatusError(
                "NOT_FOUND", f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}"
            )
    except (OSError, UnicodeDecodeError, text_format.ParseError, protobuf_message.DecodeError) as e:
        raise status.StatusError("DATA_LOSS", f"cannot read the SavedModel in {path}: {e}") from e
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return {
                key: json_format.MessageToDict(
                    signature, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
                )
                for key, signature in meta_graph.signature_def.items()
            }
    raise status.StatusError("NOT_FOUND", f"the SavedModel in {path} has no meta graph tagged {SERVE_TAG!r}")
