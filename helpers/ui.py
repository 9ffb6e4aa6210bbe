"""Show what the web UI shows, inside the notebook: a headless-Chromium screenshot where a
browser exists, otherwise the same digit and probability bars drawn with matplotlib from the
UI's own API.
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import io
import logging
import pathlib

import numpy as np
import requests
from PIL import Image

from helpers import errors, plots

logger = logging.getLogger(__name__)

CHROMIUM = pathlib.Path("/usr/bin/chromium")
# Flags that keep Chromium off the network and quiet in a container (design notes, section 7).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Seconds to wait for the page and for one API answer.
PAGE_TIMEOUT_S = 30.0
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1100, 800


@dataclasses.dataclass(frozen=True)
class Screenshot:
    """A PNG of the page; notebooks display it."""

    png: bytes

    def _repr_png_(self) -> bytes:
        return self.png


def screenshot(url: str, *, chromium: pathlib.Path = CHROMIUM) -> Screenshot | None:
    """A screenshot of `url` in headless Chromium once the page has loaded; None when there is
    no browser or no Playwright here (the caller then draws the page instead)."""
    try:
        import playwright.sync_api  # noqa: F401  (only checks that Playwright is installed)
    except ImportError:
        return None
    if not chromium.exists():
        return None
    # Playwright's sync API refuses to run inside a running asyncio loop, which a Jupyter
    # kernel always has, so the browser is driven from a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_take_screenshot, url, chromium).result()


def _take_screenshot(url: str, chromium: pathlib.Path) -> Screenshot | None:
    from playwright.sync_api import Error as PlaywrightError, sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT})
                page.goto(url, timeout=PAGE_TIMEOUT_S * 1000)
                page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_S * 1000)
                return Screenshot(page.screenshot(full_page=True))
            finally:
                browser.close()
    except PlaywrightError as e:
        logger.warning("no screenshot of %s: %s", url, e)
        return None


def _image_from_data_url(data_url: str) -> np.ndarray:
    _, _, encoded = data_url.partition("base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("L"), dtype=np.float32) / 255


def drawn_page(url: str) -> plots.Picture:
    """The page's content drawn with matplotlib from the UI's `api/random`: digit, label, bars."""
    try:
        answer = requests.get(url.rstrip("/") + "/api/random", timeout=PAGE_TIMEOUT_S)
        answer.raise_for_status()
    except requests.RequestException as e:
        raise errors.ProcessFailed(f"web UI at {url}", 1, tail=str(e)) from e
    example = answer.json()
    return plots.digit_with_probabilities(
        _image_from_data_url(example["image"]), int(example["label"]), np.asarray(example["probabilities"])
    )


def show(url: str) -> Screenshot | plots.Picture:
    """What a visitor of `url` sees: a screenshot when a browser is available, else the drawing."""
    return screenshot(url) or drawn_page(url)
