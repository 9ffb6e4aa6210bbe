"""The HTML page: first example rendered server-side, relative URLs, banner and status on failure."""

from __future__ import annotations

import pathlib
import re
from urllib import parse

import flask
import pytest
from flask import testing
from webui_testing import FakeModelServer, free_port
from werkzeug import test, wrappers
from werkzeug.middleware import dispatcher

import webui

PREFIX = "/mnist/ns/ui"


def test_page_shows_an_example_with_ten_bars(client: testing.FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.text
    assert 'id="example-image"' in html and 'src="data:image/png;base64,' in html
    assert len(re.findall(r'class="bar-row"', html)) == 20  # ten for the example, ten for the drawing
    assert re.search(r'id="banner"[^>]*\bhidden\b', html)
    assert "Test random image" in html and 'id="canvas"' in html


def test_every_url_in_the_page_is_relative(client: testing.FlaskClient) -> None:
    html = client.get("/").text
    urls = re.findall(r'(?:href|src|action)="([^"]*)"', html)
    assert urls, "the page links its assets"
    for url in urls:
        assert not url.startswith(("/", "http:", "https:")), url
    script = client.get("/static/app.js")
    assert not re.search(r"fetch\(\s*[\"'`]/", script.text)
    script.close()


@pytest.mark.parametrize(
    ("mode", "status", "message"),
    [("error", 502, "HTTP 500"), ("slow", 504, "did not answer within")],
)
def test_model_failure_shows_the_banner_with_the_status(
    fake_client: testing.FlaskClient, fake_server: FakeModelServer, mode: str, status: int, message: str
) -> None:
    fake_server.mode = mode
    response = fake_client.get("/")
    assert response.status_code == status
    banner = re.search(r'<div id="banner"[^>]*>([^<]*)</div>', response.text)
    assert banner and message in banner.group(1)
    assert "alert-danger" in response.text and "Traceback" not in response.text


def test_model_server_down_shows_the_banner_with_502(digits_path: pathlib.Path) -> None:
    app = webui.create_app(
        {"TESTING": True, "MODEL_SERVER_URL": f"http://127.0.0.1:{free_port()}", "DATA_PATH": str(digits_path)}
    )
    response = app.test_client().get("/")
    assert response.status_code == 502 and "unreachable" in response.text


def test_page_and_assets_resolve_under_a_path_prefix(app: flask.Flask) -> None:
    mounted = dispatcher.DispatcherMiddleware(wrappers.Response("outside the UI", 404), {PREFIX: app})
    browser = test.Client(mounted)
    page = browser.get(PREFIX + "/")
    assert page.status_code == 200
    page_url = "http://localhost" + PREFIX + "/"
    for url in re.findall(r'(?:href|src)="([^"]+)"', page.text):
        if url.startswith("data:"):
            continue
        asset = browser.get(parse.urljoin(page_url, url))  # as a browser resolves it
        assert asset.status_code == 200, url
        asset.close()
    api = browser.get(parse.urljoin(page_url, "api/random"))
    assert api.status_code == 200 and api.json["image"].startswith("data:image/png")
