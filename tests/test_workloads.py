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


@pytest.mark.parametrize("api", ["tfjob", "trainjob"])
def test_training_jobs_refuse_unknown_or_missing_parameters_as_a_signature_would(
    settings: settings_module.Settings, api: str
) -> None:
    with_bucket = settings.model_copy(update={"bucket": "mnist-local"})
    parameters = {"image": "i:1", "run_id": "r", "num_workers": 1, "num_ps": 1, "train_steps": 1, "batch_size": 1}
    with pytest.raises(TypeError, match=r"missing \['learning_rate'\], unknown \['num_worker'\]"):
        workloads.training_job(api=api, settings=with_bucket, **parameters, num_worker=2)
