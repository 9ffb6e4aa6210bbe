"""Fixtures for the cluster client's contract tests: the API server stand-in and a client logged in to it."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import settings as settings_module
from helpers.cluster import login

from . import fake_api as fake_api_module
from .objects import NAMESPACE


@pytest.fixture
def fake_api() -> Iterator[fake_api_module.FakeApiServer]:
    """A fresh API server stand-in on a free loopback port, stopped after the test."""
    with fake_api_module.FakeApiServer() as server:
        yield server


@pytest.fixture
def cluster_settings(tmp_path: pathlib.Path) -> settings_module.Settings:
    """Kubeflow-backend settings with quick retries and a short default wait."""
    return settings_module.load(
        backend="kubeflow",
        state_dir=str(tmp_path / "state"),
        namespace=NAMESPACE,
        api_retries=3,
        api_backoff_s=0.01,
        wait_timeout_s=5.0,
    )


@pytest.fixture
def api(fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings) -> Iterator[Any]:
    """A real `kubernetes` ApiClient logged in to the stand-in; closed (its connections too) after the test."""
    client = login.connect(settings=cluster_settings, host=fake_api.url)
    yield client
    client.close()
