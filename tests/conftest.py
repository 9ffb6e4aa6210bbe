"""Fixtures shared by every test: isolated settings on a temporary state folder."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from controlplane import cluster, profile
from helpers import settings as settings_module
from helpers.cluster import login


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


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.Cluster]:
    """The real etcd + kube-apiserver + kube-controller-manager on loopback, with the series' CRDs.

    Each session starts its own (about 5 s with built binaries; built once per machine) in a folder of
    its own and stops it at its end, so sessions running side by side never share or stop each
    other's. A machine without Go fails here with the command that installs it, never a skip.
    """
    state_dir = tmp_path_factory.mktemp("controlplane")
    # The CRDs go in before the controller manager starts, so its garbage collector knows them at once.
    running = cluster.up(state_dir=state_dir, before_controllers=profile.ensure_crds)
    try:
        yield running
    finally:
        cluster.down(state_dir=state_dir)


@pytest.fixture
def kubeflow_profile(control_plane: cluster.Cluster, request: pytest.FixtureRequest) -> Iterator[profile.Profile]:
    """A fresh namespace made as Kubeflow makes a profile (release 26.03 unless the test is parametrized
    indirectly with another), deleted after the test."""
    release = getattr(request, "param", profile.DEFAULT_RELEASE)
    namespace = f"profile-{uuid.uuid4().hex[:8]}"
    made = profile.make_namespace(control_plane, namespace=namespace, release=release)
    yield made
    profile.delete_namespace(control_plane, namespace)


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
