"""What the workloads module decides beyond the manifests (rendered output is checked in tests/manifests)."""

from __future__ import annotations

import pytest

from helpers import errors, settings as settings_module, workloads


@pytest.mark.parametrize("component", ["serving", "ui", "tensorboard"])
def test_service_url_finds_the_series_service_by_app_name(settings: settings_module.Settings, component: str) -> None:
    renamed = settings.model_copy(update={"app_name": "digits"})
    urls = {f"digits-{component}": "http://127.0.0.1:9000", f"mnist-{component}": "http://wrong"}
    assert workloads.service_url(urls, settings=renamed, component=component) == "http://127.0.0.1:9000"


def test_service_url_names_what_was_deployed_when_absent(settings: settings_module.Settings) -> None:
    with pytest.raises(errors.ConfigError, match=r"'mnist-ui'.*deployed: \['mnist-serving'\]"):
        workloads.service_url({"mnist-serving": "http://x"}, settings=settings, component="ui")
