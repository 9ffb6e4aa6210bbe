"""What runs, rendered from the settings: one function per manifest in `manifests/`.

Both backends call these, so the values a template gets are decided in one place, and the
golden-file tests render exactly what a notebook would apply. Each function returns the
resources with credentials wired for the pods (IRSA or the `aws-secret` Secret).
"""

from __future__ import annotations

from collections.abc import Mapping

from helpers import checks, data, manifests, settings as settings_module
from helpers.aws import credentials

MODEL_NAME = "mnist"


def data_uri(settings: settings_module.Settings) -> str:
    """Where the staged data set lives: one copy in the bucket that every replica reads."""
    return f"s3://{settings.require('bucket')}/data/mnist.npz"


def run_uri(settings: settings_module.Settings, job_name: str) -> str:
    """A training run's folder: checkpoints and TensorBoard event files."""
    return f"s3://{settings.require('bucket')}/runs/{job_name}"


def export_uri(settings: settings_module.Settings) -> str:
    """The model's base path: numbered version folders that TensorFlow Serving watches."""
    return f"s3://{settings.require('bucket')}/models/{MODEL_NAME}"


def _render(name: str, settings: settings_module.Settings, values: Mapping[str, object]) -> list[manifests.Resource]:
    common = {
        "app_name": settings.app_name,
        "namespace": settings.namespace,
        "service_account": settings.service_account,
        "region": settings.region,
    }
    resources = manifests.render(name, {**common, **values}, app_name=settings.app_name)
    return credentials.for_pods(resources, settings=settings)


def build_job(
    *, settings: settings_module.Settings, tag: str, dockerfile: str, context_uri: str, image: str, builder_image: str
) -> list[manifests.Resource]:
    """The in-cluster image build: a ConfigMap for ECR login and the executor Job."""
    values = {
        "tag": tag,
        "dockerfile": dockerfile,
        "context_uri": context_uri,
        "image": image,
        "builder_image": builder_image,
    }
    return _render("build-job", settings, values)


def tensorboard(*, settings: settings_module.Settings, logdir_uri: str) -> list[manifests.Resource]:
    """TensorBoard on a run's event files: Deployment (with its S3 sync sidecar), Service, VirtualService."""
    bucket = settings.require("bucket")
    prefix = f"s3://{bucket}/"
    if not logdir_uri.startswith(prefix):
        raise ValueError(f"logdir_uri {logdir_uri!r} is not in the bucket {bucket!r}")
    return _render("tensorboard", settings, {"bucket": bucket, "logdir_key": logdir_uri[len(prefix) :]})


def serving(*, settings: settings_module.Settings) -> list[manifests.Resource]:
    """TensorFlow Serving on the exported versions: monitoring ConfigMap, Deployment, Service."""
    return _render("serving", settings, {"bucket": settings.require("bucket"), "model_name": MODEL_NAME})


def ui(*, settings: settings_module.Settings, ui_image: str) -> list[manifests.Resource]:
    """The web UI pointed at the serving Service and the staged test set: Deployment, Service, VirtualService."""
    values = {"ui_image": ui_image, "model_name": MODEL_NAME, "test_data_uri": data_uri(settings)}
    return _render("ui", settings, values)


def tfjob(
    *,
    settings: settings_module.Settings,
    image: str,
    run_id: str,
    num_workers: int,
    num_ps: int,
    train_steps: int,
    batch_size: int,
    learning_rate: float,
    train_subset: int = 0,
    test_subset: int = 0,
) -> manifests.Resource:
    """The distributed training job: a Chief, `num_ps` parameter servers and `num_workers` workers.

    Each run writes checkpoints and events to its own folder (`run_uri`), so a re-run with
    other hyperparameters starts fresh while a restarted chief of the same run resumes.
    Raises ConfigError naming a count, rate or subset of the wrong type or out of range.
    """
    counts = {"num_workers": num_workers, "num_ps": num_ps, "train_steps": train_steps, "batch_size": batch_size}
    for name, value in counts.items():
        checks.integer(name, value, minimum=1)
    checks.number("learning_rate", learning_rate, above=0, below=1)
    # 0 means the whole split.
    checks.integer("train_subset", train_subset, minimum=0, maximum=data.TRAIN_EXAMPLES)
    checks.integer("test_subset", test_subset, minimum=0, maximum=data.TEST_EXAMPLES)
    job_name = f"{settings.app_name}-train"
    values = {
        "job_name": job_name,
        "image": image,
        "model_dir": f"{run_uri(settings, job_name)}/{run_id}",
        "export_dir": export_uri(settings),
        "data_uri": data_uri(settings),
        "train_steps": train_steps,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "num_ps": num_ps,
        "num_workers": num_workers,
    }
    (job,) = _render("tfjob", settings, values)
    # Subsets are for quick runs (tests, a first try); the full run uses all 70,000 images.
    extra = [f"--train-subset={train_subset}"] * bool(train_subset) + [f"--test-subset={test_subset}"] * bool(
        test_subset
    )
    for replica in job["spec"]["tfReplicaSpecs"].values():
        for container in replica["template"]["spec"]["containers"]:
            container["args"] = [*container.get("args", []), *extra]
    return job
