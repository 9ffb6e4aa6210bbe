"""Model versions: finding the latest, publishing a copy under the next number atomically."""

from __future__ import annotations

import pytest

from helpers import backends, errors, rollout, settings as settings_module
from helpers.aws import s3
from helpers.local import containers


def test_publish_copy_adds_the_next_version(settings: settings_module.Settings) -> None:
    settings = settings.model_copy(update={"bucket": "mnist-local"})
    backend = backends.get(settings=settings)
    export = "s3://mnist-local/models/mnist"
    base = containers.local_object_path(export, settings=settings)
    (base / "17" / "variables").mkdir(parents=True)
    (base / "17" / "saved_model.pb").write_bytes(b"model")
    s3.write_marker(base / "17")
    (base / "metrics.json").write_text("{}")
    (base / "19").mkdir()  # an upload that stopped before its completion marker: not a version yet
    assert rollout.versions(base) == [17]
    assert rollout.publish_copy(backend=backend, export_uri=export) == 18
    assert (base / "18" / "saved_model.pb").read_bytes() == b"model"
    assert s3.is_complete(base / "18"), "the copy's completion marker is written last"
    assert rollout.latest_version(backend=backend, export_uri=export) == 18


def test_no_version_is_a_clear_error(settings: settings_module.Settings) -> None:
    settings = settings.model_copy(update={"bucket": "mnist-local"})
    with pytest.raises(errors.ConfigError, match="run 03_train first"):
        rollout.latest_version(backend=backends.get(settings=settings), export_uri="s3://mnist-local/models/mnist")
