"""Canonical error codes map to the HTTP statuses TF Serving answers with."""

from __future__ import annotations

import pytest

from helpers import errors
from helpers.serving import status


def test_status_error_maps_codes_like_tf_serving() -> None:
    assert status.StatusError("NOT_FOUND", "x").http_status == 404
    assert status.StatusError("RESOURCE_EXHAUSTED", "x").http_status == 429
    assert status.StatusError("UNIMPLEMENTED", "x").http_status == 501
    assert status.StatusError("UNAVAILABLE", "x").http_status == 503
    assert isinstance(status.StatusError("INTERNAL", "x"), errors.HelpersError)
    with pytest.raises(ValueError, match="canonical"):
        status.StatusError("OK", "fine")
