"""The errors' readable lines, and ApiError as the one base of the HTTP APIs' errors."""

from __future__ import annotations

import pytest

from helpers import errors
from helpers.serving import client as serving_client


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            errors.ClusterError("apply", "TFJob/mnist", "forbidden", status=403),
            "apply TFJob/mnist failed (HTTP 403): forbidden",
        ),
        (
            errors.ClusterError("log in to", "the Kubernetes API", "no kubeconfig"),
            "log in to the Kubernetes API failed: no kubeconfig",
        ),
        (
            serving_client.ServingError("http://127.0.0.1:8501/v1/models/mnist", "not found", status=404),
            "http://127.0.0.1:8501/v1/models/mnist (HTTP 404): not found",
        ),
        (
            serving_client.ServingError("http://127.0.0.1:8501", "cannot connect"),
            "http://127.0.0.1:8501: cannot connect",
        ),
    ],
)
def test_api_errors_name_the_call_and_the_status(error: errors.ApiError, expected: str) -> None:
    assert str(error) == expected
    assert isinstance(error, errors.ApiError)
    assert isinstance(error, errors.HelpersError)


def test_api_errors_stay_apart() -> None:
    # Callers catch each on its own: a cluster failure is never taken for a serving one, nor the reverse.
    assert not isinstance(errors.ClusterError("delete", "Pod/a", "gone", status=404), serving_client.ServingError)
    assert not isinstance(serving_client.ServingError("http://127.0.0.1:8501", "refused"), errors.ClusterError)
