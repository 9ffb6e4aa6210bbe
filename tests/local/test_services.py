"""services: the registry of local Service ports shared between kernels."""

from __future__ import annotations

import pytest

from helpers import errors, settings as settings_module
from helpers.local import services


def test_register_and_remove_by_owner(settings: settings_module.Settings) -> None:
    assert services.read(settings) == {}
    services.register(settings=settings, name="a", namespace="ns", owner="deployment/a", ports={80: 41000})
    services.register(settings=settings, name="b", namespace="ns", owner="tfjob/b", ports={2222: 41001})
    assert services.read(settings)["a"] == {"namespace": "ns", "owner": "deployment/a", "ports": {"80": 41000}}
    services.remove_owned(settings=settings, owner="tfjob/b")
    services.remove_owned(settings=settings, owner="tfjob/b")
    assert list(services.read(settings)) == ["a"]


def test_corrupt_registry_names_the_file(settings: settings_module.Settings) -> None:
    services.local_dir(settings).mkdir(parents=True)
    (services.local_dir(settings) / services.REGISTRY_FILE).write_text("{not json")
    with pytest.raises(errors.ConfigError, match=r"services\.json"):
        services.read(settings)
