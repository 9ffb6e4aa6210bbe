"""The backend registry and the local backend's part of 01."""

from __future__ import annotations

import pytest

from helpers import backends, errors, settings as settings_module, state
from helpers.backends import local


def test_unknown_backend_is_a_config_error(settings: settings_module.Settings) -> None:
    odd = settings.model_construct(**{**settings.model_dump(), "backend": "nomad"})
    with pytest.raises(errors.ConfigError, match="unknown backend") as caught:
        backends.get(settings=odd)
    assert caught.value.parameter == "backend"


def test_local_storage_is_created_once_and_recorded(settings: settings_module.Settings) -> None:
    backend = backends.get(settings=settings)
    first = backend.ensure_storage()
    assert first.status_of("bucket") == "created"
    assert first.status_of("image repository") == "created"
    assert (local.object_store_root(settings) / "mnist-local").is_dir()
    assert state.get(settings.state_dir, "settings")["bucket"] == "mnist-local"
    again = backends.get(settings=settings_module.load(state_dir=str(settings.state_dir))).ensure_storage()
    assert again.status_of("bucket") == "exists"
    assert again.status_of("image repository") == "exists"


def test_local_identity_and_access_say_they_are_skipped(settings: settings_module.Settings) -> None:
    backend = backends.get(settings=settings)
    assert backend.check_identity().status_of("AWS account") == "skipped"
    assert backend.grant_access().status_of("credentials") == "skipped"
