"""The errors the web UI raises, each carrying the HTTP status and message a user sees.

The UI image ships only `webui/` (Flask, NumPy, Pillow, boto3: no TensorFlow), so it cannot
import `helpers.errors`; and its errors differ in kind: each maps to one HTTP status that the
views return as `{"error": message}` or show in the page's banner.
"""

from __future__ import annotations


class WebUIError(Exception):
    """Raised for any failure the UI can explain to a user; the base of the others."""

    status = 500

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class BadInput(WebUIError):
    """Raised when a request carries input the UI cannot use (malformed or wrong-sized drawing)."""

    status = 400


class ModelServerError(WebUIError):
    """Raised when the model server is unreachable, answers with an error or with a body the
    UI cannot read."""

    status = 502


class ModelServerTimeout(ModelServerError):
    """Raised when the model server does not answer within the configured timeout."""

    status = 504


class DataUnavailable(WebUIError):
    """Raised when the test set is not configured, cannot be read or has the wrong shape."""

    status = 503


class ConfigError(WebUIError, ValueError):
    """Raised when a `WEBUI_*` setting has a value that cannot be used; names both."""

    def __init__(self, parameter: str, value: object, reason: str) -> None:
        self.parameter = parameter
        self.value = value
        self.reason = reason
        super().__init__(f"setting {parameter!r} = {value!r}: {reason}")
