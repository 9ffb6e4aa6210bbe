"""TensorBoard helpers: the page URL under the gateway prefix, clear errors when it does not answer.

A real `tensorboard` is started and asked for its runs by notebook 04 under nbval.
"""

from __future__ import annotations

import socket

import pytest

from helpers import errors, settings as settings_module, tensorboard


def test_url_is_the_service_url_under_the_prefix(settings: settings_module.Settings) -> None:
    urls = {"mnist-tensorboard": "http://127.0.0.1:4242"}
    assert tensorboard.url(urls, settings=settings) == (
        "http://127.0.0.1:4242/mnist/kubeflow-user-example-com/tensorboard/"
    )
    with pytest.raises(errors.ConfigError, match="mnist-tensorboard"):
        tensorboard.url({}, settings=settings)


def test_runs_names_a_tensorboard_that_does_not_answer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(errors.ProcessFailed, match=f"TensorBoard at http://127.0.0.1:{port}/"):
        tensorboard.runs(f"http://127.0.0.1:{port}/")
