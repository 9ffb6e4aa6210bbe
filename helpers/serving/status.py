"""TF Serving's canonical error codes, the HTTP status each maps to, and the error that carries one.

The local server answers errors exactly as tensorflow_model_server does (`{"error": ...}` with the
status its `http_server.cc` picks for the code), so clients handle both servers the same way.
"""

from __future__ import annotations

import dataclasses

from helpers import errors

# tensorflow_serving/model_servers/http_server.cc ToHTTPStatusCode, code by code.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


@dataclasses.dataclass(eq=False)
class StatusError(errors.HelpersError):
    """Raised inside the local server when a request or a model load fails; carries TF Serving's
    canonical code (e.g. "INVALID_ARGUMENT") and the message the client will read."""

    code: str
    message: str

    def __post_init__(self) -> None:
        if self.code not in HTTP_STATUS or self.code == "OK":
            raise ValueError(f"code must be a canonical error code other than OK, got {self.code!r}")

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def http_status(self) -> int:
        """The HTTP status TF Serving answers with for this code."""
        return HTTP_STATUS[self.code]
