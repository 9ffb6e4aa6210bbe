"""A small client for TensorFlow Serving's REST API, for notebooks 05 and 06.

It works the same against real TF Serving on the cluster and the local server, since both speak
one API. Every failure is a `ServingError` (or `WaitTimeout` from `wait_available`) that names the
URL and, when the server answered, its HTTP status and `{"error": ...}` message.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, TypedDict

import numpy as np
import requests

from helpers import errors

logger = logging.getLogger(__name__)

# Pause between status checks while waiting for a model; short, since loading takes seconds.
WAIT_POLL_S = 0.5


class VersionStatus(TypedDict):
    """One entry of `model_version_status`: the version (a string), its state and load status."""

    version: str
    state: str
    status: dict[str, str]


@dataclasses.dataclass(eq=False)
class ServingError(errors.ApiError):
    """Raised when a serving call fails: unreachable server, no answer in time, an HTTP error or a
    response that is not what TF Serving sends; names the URL, the HTTP status and the server's message."""

    url: str
    message: str
    _: dataclasses.KW_ONLY
    status: int | None = None

    def _call(self) -> str:
        return self.url


class ServingClient:
    """Talks to one model on a TF Serving REST endpoint (e.g. http://127.0.0.1:8501)."""

    def __init__(self, base_url: str, model_name: str, *, timeout_s: float = 10.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise errors.ConfigError("base_url", base_url, "must start with http:// or https://")
        if timeout_s <= 0:
            raise errors.ConfigError("timeout_s", timeout_s, "must be a positive number of seconds")
        self.model_url = f"{base_url.rstrip('/')}/v1/models/{model_name}"
        self.model_name = model_name
        self.timeout_s = timeout_s
        self._session = requests.Session()

    def close(self) -> None:
        """Close the connection pool; returns None."""
        self._session.close()

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def status(self) -> list[VersionStatus]:
        """The model's versions and their states, newest first; raises ServingError."""
        answer = self._call("GET", self.model_url)
        return list(answer.get("model_version_status", []))

    def wait_available(self, timeout_s: float) -> str:
        """Wait until a version is AVAILABLE and return the newest such version (a string).

        Connection errors (server still starting) and 404 (no version loaded yet) are waited out;
        other errors raise ServingError at once. Raises WaitTimeout naming the last state seen.
        """
        deadline = time.monotonic() + timeout_s
        last_state = "no answer yet"
        while True:
            try:
                available = [entry["version"] for entry in self.status() if entry["state"] == "AVAILABLE"]
                if available:
                    return max(available, key=int)
                last_state = "no version AVAILABLE yet"
            except ServingError as e:
                if e.status not in (None, 404):
                    raise
                last_state = str(e)
                logger.debug("waiting for %s: %s", self.model_url, e)
            if time.monotonic() + WAIT_POLL_S > deadline:
                raise errors.WaitTimeout(
                    f"model {self.model_name} at {self.model_url}", timeout_s, last_state=last_state
                )
            time.sleep(WAIT_POLL_S)

    def metadata(self, *, version: str | None = None) -> dict[str, Any]:
        """The model's metadata (`model_spec` and the `signature_def` map); raises ServingError."""
        return self._call("GET", f"{self._version_url(version)}/metadata")

    def predict(self, images: np.ndarray, *, version: str | None = None) -> np.ndarray:
        """Class probabilities [N, 10] for float images [N, 28, 28] with pixels in [0, 1].

        Raises ConfigError for images of another shape or an integer dtype, ServingError when
        the call fails.
        """
        images = np.asarray(images)
        if images.ndim != 3 or images.dtype.kind != "f":
            raise errors.ConfigError(
                "images",
                f"array {images.dtype}{list(images.shape)}",
                "must be float pixels in [0, 1] shaped [N, 28, 28]; divide uint8 images by 255",
            )
        url = f"{self._version_url(version)}:predict"
        answer = self._call("POST", url, json={"signature_name": "serving_default", "inputs": images.tolist()})
        outputs = answer.get("outputs")
        probabilities = np.asarray(outputs.get("predictions") if isinstance(outputs, dict) else outputs, dtype=float)
        if probabilities.ndim != 2 or probabilities.shape[0] != images.shape[0]:
            raise ServingError(url, f"expected predictions for {images.shape[0]} images, got {probabilities.shape}")
        return probabilities

    def _version_url(self, version: str | None) -> str:
        return self.model_url if version is None else f"{self.model_url}/versions/{version}"

    def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._session.request(method, url, timeout=self.timeout_s, **kwargs)
        except requests.Timeout as e:
            raise ServingError(url, f"no answer within {self.timeout_s:g} s") from e
        except requests.ConnectionError as e:
            raise ServingError(url, f"cannot connect: {e}") from e
        except requests.RequestException as e:
            raise ServingError(url, f"request failed: {e}") from e
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.ok:
            message = body.get("error") if isinstance(body, dict) else None
            raise ServingError(url, str(message or response.text[:200] or response.reason), status=response.status_code)
        if not isinstance(body, dict):
            raise ServingError(url, "the answer is not a JSON object", status=response.status_code)
        return body
