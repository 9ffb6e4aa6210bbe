"""The local backend: folders for storage, the build context kept in the local registry."""

from __future__ import annotations

import pathlib

import pytest

from helpers import backends, image, settings as settings_module, state
from helpers.local import containers


def test_local_storage_is_created_once_and_recorded(settings: settings_module.Settings) -> None:
    backend = backends.get(settings=settings)
    first = backend.ensure_storage()
    assert first.status_of("bucket") == "created"
    assert first.status_of("image repository") == "created"
    assert containers.local_object_path("s3://mnist-local", settings=settings).is_dir()
    assert state.get(settings.state_dir, "settings")["bucket"] == "mnist-local"
    again = backends.get(settings=settings_module.load(state_dir=str(settings.state_dir))).ensure_storage()
    assert again.status_of("bucket") == "exists"
    assert again.status_of("image repository") == "exists"


def test_local_identity_and_access_say_they_are_skipped(settings: settings_module.Settings) -> None:
    backend = backends.get(settings=settings)
    assert backend.check_identity().status_of("AWS account") == "skipped"
    assert backend.grant_access().status_of("credentials") == "skipped"


def test_build_image_keeps_the_context_and_records_the_image(
    settings: settings_module.Settings, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-docker-here"))
    project = tmp_path / "project"
    (project / "model").mkdir(parents=True)
    (project / "model" / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY model/model.py /app/model.py\n")
    (project / "model" / "model.py").write_text("print('train')\n")
    context = image.build_context(output_dir=tmp_path / "contexts", project_dir=project)
    backend = backends.get(settings=settings)
    built = backend.build_image(
        context=context, builder_image="unused-locally", repository="kubeflow-mnist/train", record_as="image"
    )
    assert built.status_of("build context") == "stored"
    assert built.status_of("docker build") == "skipped"
    assert built.title == "Training image (local)"
    recorded = state.get(settings.state_dir, "image")
    assert recorded["tag"] == context.tag and recorded["built_with"] == "source tree"
    assert pathlib.Path(recorded["context"]).read_bytes() == context.tarball.read_bytes()
    assert (
        backend.build_image(
            context=context, builder_image="x", repository="kubeflow-mnist/train", record_as="image"
        ).status_of("build context")
        == "exists"
    )
    ui = backend.build_image(
        context=context, builder_image="x", repository="kubeflow-mnist/webui", record_as="ui_image"
    )
    assert ui.title == "Web UI image (local)"
