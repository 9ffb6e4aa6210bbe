"""The page in a real headless Chromium: example and bars, another image, drawing, banner, prefix.

Debian's `chromium` driven by Playwright (`playwright install` cannot download here). Without
the browser these tests skip with the reason, except under CI (env CI set), where they fail.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import flask
import pytest
from playwright import sync_api
from webui_testing import ModelServer, Served
from werkzeug import wrappers
from werkzeug.middleware import dispatcher

import webui
from helpers import ui as helpers_ui

pytestmark = pytest.mark.browser

# The same browser and flags the notebooks' screenshots use.
CHROMIUM = helpers_ui.CHROMIUM
CHROMIUM_ARGS = helpers_ui.CHROMIUM_ARGS
PREFIX = "/mnist/ns/ui"
# Generous for a shared 2-core machine; the page answers in well under a second when idle.
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    """Headless Debian Chromium; skipped (failed under CI) when it is not installed."""
    if not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM}: apt-get install chromium to run the browser tests"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    """A fresh page in its own browser context, closed after the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(WAIT_MS)
    browser_page = context.new_page()
    yield browser_page
    context.close()


# Tests list a `served` fixture before `page`, so the page (and its keep-alive connections,
# which keep waitress' loop running) closes before the server is stopped.
@pytest.fixture
def served(app: flask.Flask) -> Iterator[Served]:
    """The app (on the local model server and the tiny test set) behind waitress."""
    server = Served(app)
    yield server
    server.close()


@pytest.fixture
def served_on_own_model_server(
    model_base_path: pathlib.Path, digits_path: pathlib.Path, tmp_path: pathlib.Path
) -> Iterator[tuple[Served, ModelServer]]:
    """The app on a model server of its own, which the test may stop."""
    model_server = ModelServer(base_path=model_base_path, log_dir=tmp_path).start()
    app = webui.create_app({"TESTING": True, "MODEL_SERVER_URL": model_server.url, "DATA_PATH": str(digits_path)})
    server = Served(app)
    yield server, model_server
    server.close()
    model_server.stop()


@pytest.fixture
def served_under_prefix(app: flask.Flask) -> Iterator[Served]:
    """The app mounted under PREFIX, as the Istio route exposes it; other paths answer 404."""
    outside = wrappers.Response("not the UI", status=404)
    server = Served(dispatcher.DispatcherMiddleware(outside, {PREFIX: app}))
    yield server
    server.close()


def bar_values(page: sync_api.Page, bars_id: str) -> list[float]:
    """The ten probabilities (in %) that a bar group shows."""
    values = page.locator(f"#{bars_id} .progress").evaluate_all("bars => bars.map(b => b.ariaValueNow)")
    return [float(value) for value in values]


def draw_one(page: sync_api.Page) -> None:
    """Draw a '1' on the canvas with mouse events: a short flag and a long downstroke."""
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    left, top = box["x"], box["y"]
    page.mouse.move(left + 115, top + 80)
    page.mouse.down()
    page.mouse.move(left + 150, top + 50, steps=5)
    page.mouse.move(left + 150, top + 240, steps=15)
    page.mouse.up()


def test_page_shows_an_image_and_ten_bars_summing_to_one(
    served: Served, page: sync_api.Page, tmp_path: pathlib.Path
) -> None:
    page.goto(served.url + "/")
    image = page.locator("#example-image")
    sync_api.expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 28
    values = bar_values(page, "example-bars")
    assert len(values) == 10 and sum(values) == pytest.approx(100.0, abs=0.6)
    assert page.locator("#example-predicted").inner_text() == page.locator("#example-label").inner_text()
    sync_api.expect(page.locator("#banner")).to_be_hidden()
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert (tmp_path / "page.png").stat().st_size > 10_000


def test_the_page_loads_without_a_failed_request(served_under_prefix: Served, page: sync_api.Page) -> None:
    failed: list[str] = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(served_under_prefix.url + PREFIX + "/")
    sync_api.expect(page.locator("#example-image")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert failed == []
    # Headless Chromium never asks for a favicon; a headed one asks /favicon.ico unless the page names one.
    icon = page.locator("link[rel=icon]").evaluate("link => link.href")
    assert icon.startswith(served_under_prefix.url + PREFIX + "/")
    assert page.request.get(icon).status == 200


def test_button_loads_another_image(served: Served, page: sync_api.Page) -> None:
    page.goto(served.url + "/")
    image = page.locator("#example-image")
    first_index, first_source = image.get_attribute("data-index"), image.get_attribute("src")
    page.get_by_role("button", name="Test random image").click()
    sync_api.expect(image).not_to_have_attribute("data-index", first_index or "")
    assert image.get_attribute("src") != first_source
    assert page.url == served.url + "/"  # fetched by script, not a form reload
    assert page.locator("#example-index").inner_text() == "#" + (image.get_attribute("data-index") or "")


def test_drawn_digit_gets_a_prediction(served: Served, page: sync_api.Page, tmp_path: pathlib.Path) -> None:
    page.goto(served.url + "/")
    draw_one(page)
    page.get_by_role("button", name="Classify").click()
    sync_api.expect(page.locator("#drawing-preview")).to_be_visible()
    assert page.locator("#drawing-predicted").inner_text() == "1"
    assert sum(bar_values(page, "drawing-bars")) == pytest.approx(100.0, abs=0.6)
    page.screenshot(path=str(tmp_path / "drawing.png"), full_page=True)
    page.get_by_role("button", name="Clear").click()
    assert page.locator("#drawing-predicted").inner_text() == "\N{EN DASH}"  # nothing predicted


def test_banner_appears_when_the_model_server_stops(
    served_on_own_model_server: tuple[Served, ModelServer], page: sync_api.Page, tmp_path: pathlib.Path
) -> None:
    served, model_server = served_on_own_model_server
    page.goto(served.url + "/")
    sync_api.expect(page.locator("#banner")).to_be_hidden()
    model_server.stop()
    page.get_by_role("button", name="Test random image").click()
    banner = page.locator("#banner")
    sync_api.expect(banner).to_be_visible()
    sync_api.expect(banner).to_contain_text("unreachable")
    sync_api.expect(banner).to_contain_text("HTTP 502")
    page.screenshot(path=str(tmp_path / "banner.png"), full_page=True)


def test_page_works_under_a_path_prefix(served_under_prefix: Served, page: sync_api.Page) -> None:
    failed: list[str] = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.goto(served_under_prefix.url + PREFIX + "/")
    sync_api.expect(page.locator("#example-image")).to_be_visible()
    button_colour = page.evaluate("getComputedStyle(document.querySelector('.btn-primary')).backgroundColor")
    assert button_colour != "rgba(0, 0, 0, 0)"  # Bootstrap's CSS came through the prefix
    first_index = page.locator("#example-image").get_attribute("data-index") or ""
    page.get_by_role("button", name="Test random image").click()
    sync_api.expect(page.locator("#example-image")).not_to_have_attribute("data-index", first_index)
    draw_one(page)
    page.get_by_role("button", name="Classify").click()
    sync_api.expect(page.locator("#drawing-preview")).to_be_visible()
    assert failed == []
