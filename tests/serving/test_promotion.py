"""Model promotion on the local backend: an upload interrupted half way is never served; once an upload
completes (its marker last), the new version is.

The local model server watches the object-store folder itself (the local backend skips the s3-sync
sidecar), so this is the local equivalent of the cluster's sync promoting only complete versions.
"""

from __future__ import annotations

import pathlib
import shutil

import numpy as np
import pytest

from helpers import backends, errors, settings as settings_module, workloads
from helpers.aws import s3
from helpers.local import containers
from helpers.serving import versions

# Files of version 2 that land before the copy breaks: saved_model.pb is there, its variables are not.
FILES_BEFORE_THE_FAILURE = 2


def _predictions(manager: versions.VersionManager, images: np.ndarray) -> np.ndarray:
    return manager.servable(workloads.MODEL_NAME, None).predict("serving_default", {"x": images})["predictions"]


def test_an_interrupted_upload_is_never_served_and_a_completed_one_is(
    exported: dict, images: np.ndarray, tmp_path: pathlib.Path
) -> None:
    settings = settings_module.Settings(backend="local", state_dir=tmp_path / "state", bucket="mnist-local")
    backend = backends.get(settings=settings)
    export_uri = workloads.export_uri(settings)
    base_path = containers.local_object_path(export_uri, settings=settings)
    shutil.copytree(exported[1].path, base_path / "1")  # what 03 left: one complete version
    source_uri = "s3://mnist-local/incoming/2"  # a retrained model, ready to publish
    shutil.copytree(exported[2].path, containers.local_object_path(source_uri, settings=settings))
    manager = versions.VersionManager(model_name=workloads.MODEL_NAME, base_path=base_path)
    manager.poll()
    assert manager.servable(workloads.MODEL_NAME, None).version == 1

    landed: list[pathlib.Path] = []

    def breaks_half_way(source: pathlib.Path, destination: pathlib.Path) -> None:
        if len(landed) == FILES_BEFORE_THE_FAILURE:
            raise ConnectionResetError("the upload broke off")
        shutil.copyfile(source, destination)
        landed.append(destination)

    backend.copy_file = breaks_half_way  # type: ignore[method-assign]
    with pytest.raises(ConnectionResetError):
        backend.copy_tree(source_uri, f"{export_uri}/2")
    assert [path.name for path in landed] == ["fingerprint.pb", "saved_model.pb"]
    assert (base_path / "2" / "saved_model.pb").is_file() and not (base_path / "2" / s3.COMPLETE_MARKER).exists()
    for _ in range(3):
        manager.poll()
    assert manager.servable(workloads.MODEL_NAME, None).version == 1
    np.testing.assert_allclose(_predictions(manager, images), exported[1].expected(images), rtol=1e-5, atol=1e-6)
    # Not even tried: TF Serving behind the sync sidecar never sees it either.
    assert [entry.version for entry in manager.statuses(workloads.MODEL_NAME, None)] == [1]
    with pytest.raises(errors.ConfigError, match="not a complete model version"):
        backend.copy_tree(f"{export_uri}/2", f"{export_uri}/3")

    del backend.copy_file  # the plain copy again: the upload is retried and completes
    backend.copy_tree(source_uri, f"{export_uri}/2")
    manager.poll()
    assert manager.servable(workloads.MODEL_NAME, None).version == 2
    np.testing.assert_allclose(_predictions(manager, images), exported[2].expected(images), rtol=1e-5, atol=1e-6)


def test_export_writes_the_marker_last(exported: dict) -> None:
    listed = (exported[1].path / s3.COMPLETE_MARKER).read_text().splitlines()
    assert "saved_model.pb" in listed and s3.COMPLETE_MARKER not in listed
    assert s3.is_complete(exported[1].path)
