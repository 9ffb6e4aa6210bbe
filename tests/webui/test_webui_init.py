"""The app factory: defaults, then WEBUI_* environment variables, then the test mapping; debug off."""

from __future__ import annotations

import pytest

import webui
from webui import config, context, errors


def test_defaults_point_at_the_serving_service(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in config.DEFAULTS:
        monkeypatch.delenv(f"WEBUI_{name}", raising=False)
    app = webui.create_app()
    assert app.config["MODEL_SERVER_URL"] == "http://mnist-serving:8501"
    assert app.config["MODEL_NAME"] == "mnist"
    assert app.config["HOST"] == "127.0.0.1" and app.config["PORT"] == 8080
    assert app.config["BOOTSTRAP_SERVE_LOCAL"] is True
    assert not app.debug and not app.testing


def test_environment_overrides_defaults_and_test_config_overrides_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBUI_MODEL_SERVER_URL", "http://127.0.0.1:18501/")
    monkeypatch.setenv("WEBUI_MODEL_NAME", "digits")
    monkeypatch.setenv("WEBUI_REQUEST_TIMEOUT_S", "2.5")
    monkeypatch.setenv("WEBUI_PORT", "9090")
    monkeypatch.setenv("WEBUI_DATA_PATH", "s3://bucket/mnist-test.npz")
    app = webui.create_app({"MODEL_NAME": "from-test"})
    assert app.config["PORT"] == 9090 and app.config["REQUEST_TIMEOUT_S"] == 2.5
    assert app.config["DATA_PATH"] == "s3://bucket/mnist-test.npz"
    services = app.extensions[context.EXTENSION_KEY]
    assert services.client.model_url == "http://127.0.0.1:18501/v1/models/from-test"
    assert services.client.timeout_s == 2.5


def test_debug_stays_off_whatever_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBUI_DEBUG", "true")
    assert not webui.create_app({"DEBUG": True}).debug


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("MODEL_SERVER_URL", "mnist-serving:8501", "http:// or https://"),
        ("MODEL_NAME", "", "model name"),
        ("MODEL_NAME", "a/b", "model name"),
        ("REQUEST_TIMEOUT_S", 0, "above 0"),
        ("REQUEST_TIMEOUT_S", "soon", "must be a number"),
        ("PORT", 70000, "at most 65535"),
        ("PORT", 80.5, "whole number"),
        ("PORT", None, "must be a number"),
    ],
)
def test_bad_settings_are_refused_by_name(setting: str, value: object, message: str) -> None:
    with pytest.raises(errors.ConfigError, match=message) as caught:
        webui.create_app({setting: value})
    assert caught.value.parameter == setting
