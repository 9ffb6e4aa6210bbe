"""Liveness never calls the model server; readiness reports whether the model is AVAILABLE."""

from __future__ import annotations

import pathlib

import pytest
from flask import testing
from webui_testing import FakeModelServer, free_port

import webui


def test_healthz_answers_without_the_model_server() -> None:
    app = webui.create_app({"TESTING": True, "MODEL_SERVER_URL": f"http://127.0.0.1:{free_port()}"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_is_ready_when_the_model_is_available(client: testing.FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "model": "mnist", "version": "1"}


@pytest.mark.parametrize(
    ("mode", "message"),
    [("loading", "version 1 is LOADING"), ("error", "HTTP 500"), ("slow", "did not answer within")],
)
def test_readyz_is_503_while_the_model_is_not_usable(
    fake_client: testing.FlaskClient, fake_server: FakeModelServer, mode: str, message: str
) -> None:
    fake_server.mode = mode
    response = fake_client.get("/readyz")
    assert response.status_code == 503
    assert message in response.json["error"]


def test_readyz_is_503_when_the_server_is_down(digits_path: pathlib.Path) -> None:
    app = webui.create_app({"TESTING": True, "MODEL_SERVER_URL": f"http://127.0.0.1:{free_port()}"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and "unreachable" in response.json["error"]
