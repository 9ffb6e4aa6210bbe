"""What the workloads module decides beyond the manifests (rendered output is checked in tests/manifests)."""

from __future__ import annotations

import ast
import pathlib

import papermill
import pytest

from helpers import errors, manifests, settings as settings_module, workloads
from helpers.local import containers

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


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


MIRROR = "123456789012.dkr.ecr.us-west-2.amazonaws.com/mirror/{}"


@pytest.mark.parametrize(
    ("notebook", "parameter", "pinned"),
    [
        ("04_tensorboard", "tensorboard_image", workloads.TENSORBOARD_IMAGE),
        ("05_serve", "model_server_image", workloads.MODEL_SERVER_IMAGE),
    ],
)
def test_the_notebooks_apply_the_pinned_server_images_by_default(notebook: str, parameter: str, pinned: str) -> None:
    """Goldens and tests render with the constants; a notebook left at its defaults must apply the same."""
    declared = papermill.inspect_notebook(str(NOTEBOOKS / f"{notebook}.ipynb"))
    assert ast.literal_eval(declared[parameter]["default"]) == pinned


def test_a_mirrored_server_image_is_applied_and_still_runs_locally(settings: settings_module.Settings) -> None:
    """A workshop passes its ECR copies; the local executor knows the servers by command, not image name."""
    local = settings.model_copy(update={"bucket": "mnist-local"})
    serving = manifests.find(
        workloads.serving(settings=local, image=MIRROR.format("tensorflow-serving:2.20.0")), "Deployment"
    )
    board = manifests.find(
        workloads.tensorboard(
            settings=local, logdir_uri="s3://mnist-local/runs/r", image=MIRROR.format("tensorflow:2.21.0")
        ),
        "Deployment",
    )
    for deployment, name, program in (
        (serving, "tensorflow-serving", "helpers.serving.server"),
        (board, "tensorboard", "tensorboard"),
    ):
        (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
        assert container["image"].startswith(MIRROR.format(""))
        argv = containers.translate(container, name=name, settings=local, port_picker=lambda: 9000).spec.argv
        assert program in (argv[2], pathlib.Path(argv[0]).name), argv
