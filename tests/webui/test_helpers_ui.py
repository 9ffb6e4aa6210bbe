"""helpers.ui: what notebook 06 shows of the page, against the real app and model server."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import flask
import pytest
from webui_testing import Served

from helpers import plots, ui


@pytest.fixture
def served(app: flask.Flask) -> Iterator[Served]:
    server = Served(app)
    yield server
    server.close()


def test_drawn_page_shows_the_example_the_api_returns(served: Served) -> None:
    picture = ui.drawn_page(served.url + "/")
    assert isinstance(picture, plots.Picture)
    titles = [axis.get_title() for axis in picture.figure.axes]
    assert titles[0].startswith("true label ") and titles[1].startswith("predicted ")


def test_no_browser_means_no_screenshot(served: Served, tmp_path: pathlib.Path) -> None:
    assert ui.screenshot(served.url + "/", chromium=tmp_path / "no-chromium") is None


def test_show_gives_a_png_either_way(served: Served) -> None:
    shown = ui.show(served.url + "/")
    assert shown._repr_png_().startswith(b"\x89PNG")
