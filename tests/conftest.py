"""Fixtures shared by every test: isolated settings on a temporary state folder."""

from __future__ import annotations

import pathlib

import pytest

from helpers import settings as settings_module


@pytest.fixture(autouse=True)
def _no_user_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """Keep a developer's MNIST_* variables and home-folder state out of every test."""
    for name in list(settings_module.Settings.model_fields):
        monkeypatch.delenv(settings_module.ENV_PREFIX + name.upper(), raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture
def state_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    """A fresh state folder."""
    return tmp_path / "state"


@pytest.fixture
def settings(state_dir: pathlib.Path) -> settings_module.Settings:
    """Settings for the local backend on a fresh state folder."""
    return settings_module.load(backend="local", state_dir=str(state_dir))
