"""Fixtures for the contract tests on the real control plane: settings and a client as default-editor."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from controlplane import profile
from helpers import settings as settings_module
from helpers.cluster import login


@pytest.fixture
def editor_settings(kubeflow_profile: profile.Profile, tmp_path: pathlib.Path) -> settings_module.Settings:
    """Kubeflow-backend settings for the profile namespace, with quick retries and short waits."""
    return settings_module.load(
        backend="kubeflow",
        state_dir=str(tmp_path / "state"),
        namespace=kubeflow_profile.namespace,
        api_retries=2,
        api_backoff_s=0.05,
        wait_timeout_s=20.0,
    )


@pytest.fixture
def editor_api(kubeflow_profile: profile.Profile, editor_settings: settings_module.Settings) -> Iterator[Any]:
    """A `kubernetes` ApiClient logged in as the profile's default-editor ServiceAccount (never admin)."""
    client = login.connect(settings=editor_settings, kube_config=kubeflow_profile.editor_kubeconfig)
    yield client
    client.close()
