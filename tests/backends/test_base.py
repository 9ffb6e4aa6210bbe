"""The backend registry."""

from __future__ import annotations

import pytest

from helpers import backends, errors, settings as settings_module


def test_unknown_backend_is_a_config_error(settings: settings_module.Settings) -> None:
    odd = settings.model_construct(**{**settings.model_dump(), "backend": "nomad"})
    with pytest.raises(errors.ConfigError, match="unknown backend") as caught:
        backends.get(settings=odd)
    assert caught.value.parameter == "backend"


@pytest.mark.parametrize("name", ["local", "kubeflow"])
def test_each_backend_is_registered_under_its_name(settings: settings_module.Settings, name: str) -> None:
    chosen = backends.get(settings=settings.model_copy(update={"backend": name}))
    assert chosen.name == name and isinstance(chosen, backends.Backend)
