"""Fixtures for the safety tests: the web UI's own fixtures (a real local model server serving a
tiny SavedModel, the 20-digit test set, the app and its client), reused rather than rebuilt."""

from __future__ import annotations

import pathlib
import sys

# tests/webui's conftest imports its test doubles by their bare name (`webui_testing`).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "webui"))

from tests.webui.conftest import app, client, digits_path, model_base_path, model_server

__all__ = ["app", "client", "digits_path", "model_base_path", "model_server"]
