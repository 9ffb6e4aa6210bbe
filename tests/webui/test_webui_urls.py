"""Relative URLs: what the page links resolves from wherever the page is mounted."""

from __future__ import annotations

import flask
import pytest

import webui
from webui import urls


@pytest.fixture
def bare_app() -> flask.Flask:
    """An app whose model server and data are never called: URL building needs neither."""
    return webui.create_app({"TESTING": True})


@pytest.mark.parametrize(
    ("script_root", "path", "expected"),
    [
        ("", "/", "static/app.js"),
        ("/mnist/ns/ui", "/", "static/app.js"),
        ("", "/api/random", "../static/app.js"),
        ("/mnist/ns/ui", "/api/v1/random", "../../static/app.js"),
    ],
)
def test_static_url_is_relative_to_the_current_page(
    bare_app: flask.Flask, script_root: str, path: str, expected: str
) -> None:
    with bare_app.test_request_context(path, base_url="http://localhost" + script_root):
        assert flask.request.script_root == script_root
        assert urls.relative_url_for("static", filename="app.js") == expected


def test_link_to_the_page_itself_is_dot_slash(bare_app: flask.Flask) -> None:
    with bare_app.test_request_context("/", base_url="http://localhost/mnist/ns/ui"):
        assert urls.relative_url_for("page.index") == "./"
