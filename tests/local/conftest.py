"""Fixtures for the local executor tests: short grace periods and clean-up of servers."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from helpers import settings as settings_module
from helpers.local import deployments


@pytest.fixture
def local_settings(settings: settings_module.Settings) -> Iterator[settings_module.Settings]:
    """Local settings with a short stop grace; every Deployment started is stopped afterwards."""
    quick = settings.model_copy(update={"stop_grace_s": 1.0, "wait_timeout_s": 30.0})
    yield quick
    deployments.stop_all(quick)


@pytest.fixture
def pid_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    """A folder where test children write their pid (`<task>.<pid>` files)."""
    folder = tmp_path / "pids"
    folder.mkdir()
    return folder
