"""A tiny client for TensorFlow Serving's REST API: model status and row-format predict.

The model runs in its own server (TensorFlow Serving on the cluster, a compatible local
server off it); the UI only needs two calls, so it speaks HTTP with one `requests.Session`
and a timeout rather than pulling in a serving client library.
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

import numpy as np
import requests

from webui import errors

# One probability per digit.
NUM_CLASSES = 10
# The signature model/model.py exports (TF Serving's default name).
SIGNATURE_NAME = "serving_default"


class ModelStatus(TypedDict):
    """The version the server reports as serving and its state (e.g. "AVAILABLE")."""

    version: str
    state: str


class ModelClient:
    """Calls one model on one TensorFlow Serving REST endpoint; thread-safe for the UI's use."""

    def __init__(
        self,
        *,
        base_url: str,
        model_name: str,
        timeout_s: float,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self.timeout_s = timeout_s
        self._session = session or requests.Session()

    @property
    def model_url(self) -> str:
        """The model's REST resource, e.g. http://mnist-serving:8501/v1/models/mnist."""
        return f"{self.base_url}/v1/models/{self.model_name}"

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities, shape [N, 10], for float images of shape [N, 28, 28] in [0, 1].

        Raises ModelServerError (unreachable, error answer, unreadable body) or ModelServerTimeout.
        """
        body = {"signature_name": SIGNATURE_NAME, "instances": images.astype(np.float32).tolist()}
        answer = self._call("POST", f"{self.model_url}:predict", json=body)
        rows = answer.get("predictions") if isinstance(answer, dict) else None
        if not isinstance(rows, list) or len(rows) != len(images):
            raise errors.ModelServerError(f"model server answered without {len(images)} prediction row(s)")
        return np.array([_probabilities(row) for row in rows], dtype=np.float64)

    def status(self) -> ModelStatus:
        """The newest AVAILABLE version (else the newest listed) and its state; raises like `predict`."""
        answer = self._call("GET", self.model_url)
        versions = answer.get("model_version_status") if isinstance(answer, dict) else None
        if not isinstance(versions, list) or not versions or not all(isinstance(v, dict) for v in versions):
            raise errors.ModelServerError(f"model server lists no version of model {self.model_name!r}")
        newest = max(versions, key=lambda version: (version.get("state") == "AVAILABLE", _version_number(version)))
        return ModelStatus(version=str(newest.get("version", "")), state=str(newest.get("state", "UNKNOWN")))

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = self._session.request(method, url, timeout=self.timeout_s, **kwargs)
        except requests.Timeout as e:
            raise errors.ModelServerTimeout(
                f"model server at {self.base_url} did not answer within {self.timeout_s:g} s"
            ) from e
        except requests.RequestException as e:
            raise errors.ModelServerError(f"model server at {self.base_url} is unreachable ({type(e).__name__})") from e
        try:
            answer = response.json()
        except requests.JSONDecodeError as e:
            if response.ok:
                raise errors.ModelServerError(f"model server answered HTTP {response.status_code} without JSON") from e
            answer = {}
        if not response.ok:
            detail = answer.get("error") if isinstance(answer, dict) else None
            reason = f": {detail}" if detail else ""
            raise errors.ModelServerError(f"model server answered HTTP {response.status_code}{reason}")
        return answer


def _version_number(version: dict[str, Any]) -> int:
    text = str(version.get("version", ""))
    return int(text) if text.isdigit() else -1


def _probabilities(row: object) -> list[float]:
    """One prediction row: an object keyed by output name (several outputs) or a bare list."""
    values = row.get("predictions") if isinstance(row, dict) else row
    if not (
        isinstance(values, list)
        and len(values) == NUM_CLASSES
        and all(isinstance(value, int | float) and not isinstance(value, bool) for value in values)
        and all(math.isfinite(value) for value in values)
    ):
        raise errors.ModelServerError(f"model server answered a prediction that is not {NUM_CLASSES} numbers")
    return [float(value) for value in values]
