"""What runs, rendered from the settings: one function per manifest in `manifests/`.

Both backends call these, so the values a template gets are decided in one place, and the
golden-file tests render exactly what a notebook would apply. Each function returns the
resources with credentials wired for the pods (IRSA or the `aws-secret` Secret).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypedDict, Unpack

import yaml

from helpers import checks, data, errors, manifests, settings as settings_module
from helpers.aws import credentials

MODEL_NAME = "mnist"
# The images of the two servers, defaults of 05's and 04's parameters. Both come from Docker Hub, whose
# anonymous pull limit a workshop behind one NAT meets: a copy in the workshop's own ECR is passed instead
# (README, "Images"). The local executor runs them by their `command`, whatever the image's name.
MODEL_SERVER_IMAGE = "tensorflow/serving:2.20.0"
TENSORBOARD_IMAGE = "tensorflow/tensorflow:2.21.0"
# manifests/tf-ps-runtime.yaml: the Trainer v2 runtime a TrainJob names.
RUNTIME_TEMPLATE = "tf-ps-runtime"


def data_uri(settings: settings_module.Settings) -> str:
    """Where the staged data set lives: one copy in the bucket that every replica reads."""
    return f"s3://{settings.require('bucket')}/data/mnist.npz"


def run_uri(settings: settings_module.Settings, job_name: str) -> str:
    """A training run's folder: checkpoints and TensorBoard event files."""
    return f"s3://{settings.require('bucket')}/runs/{job_name}"


def export_uri(settings: settings_module.Settings) -> str:
    """The model's base path: numbered version folders that TensorFlow Serving watches."""
    return f"s3://{settings.require('bucket')}/models/{MODEL_NAME}"


def service_url(service_urls: Mapping[str, str], *, settings: settings_module.Settings, component: str) -> str:
    """The address `deploy` returned for the series' Service `<app_name>-<component>` ("serving", "ui",
    "tensorboard"); raises ConfigError naming what was deployed when it is not among them."""
    service = f"{settings.app_name}-{component}"
    if service not in service_urls:
        raise errors.ConfigError("service", service, f"was not deployed; deployed: {sorted(service_urls)}")
    return service_urls[service]


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
    """The in-cluster image build: a ConfigMap for ECR login (to `image`'s registry only) and the executor Job."""
    values = {
        "registry": image.split("/", 1)[0],
        "tag": tag,
        "dockerfile": dockerfile,
        "context_uri": context_uri,
        "image": image,
        "builder_image": builder_image,
    }
    return _render("build-job", settings, values)


def tensorboard(
    *, settings: settings_module.Settings, logdir_uri: str, image: str = TENSORBOARD_IMAGE
) -> list[manifests.Resource]:
    """TensorBoard on a run's event files: Deployment (with its S3 sync sidecar), Service, VirtualService."""
    bucket = settings.require("bucket")
    prefix = f"s3://{bucket}/"
    if not logdir_uri.startswith(prefix):
        raise ValueError(f"logdir_uri {logdir_uri!r} is not in the bucket {bucket!r}")
    values = {"bucket": bucket, "logdir_key": logdir_uri[len(prefix) :], "tensorboard_image": image}
    return _render("tensorboard", settings, values)


def serving(*, settings: settings_module.Settings, image: str = MODEL_SERVER_IMAGE) -> list[manifests.Resource]:
    """TensorFlow Serving on the exported versions: monitoring ConfigMap, Deployment, Service."""
    values = {"bucket": settings.require("bucket"), "model_name": MODEL_NAME, "model_server_image": image}
    return _render("serving", settings, values)


def ui(*, settings: settings_module.Settings, ui_image: str) -> list[manifests.Resource]:
    """The web UI pointed at the serving Service and the staged test set: Deployment, Service, VirtualService."""
    values = {"ui_image": ui_image, "model_name": MODEL_NAME, "test_data_uri": data_uri(settings)}
    return _render("ui", settings, values)


class _Subsets(TypedDict, total=False):
    """Quick runs (tests, a first try) train and evaluate on the first N images of a split; 0, the default, is all.

    A base class of its own, since `total=False` is the spelling of optional keys that survives
    `from __future__ import annotations` at run time (`__optional_keys__`, checked in `_training_values`).
    """

    train_subset: int
    test_subset: int


class TrainingParameters(_Subsets):
    """What `tfjob` and `trainjob` (and `training_job`) take besides the settings: the same run on either API."""

    image: str
    """The training image every replica runs."""
    run_id: str
    """The run's folder under `run_uri`: a new id starts fresh, the same id resumes from its checkpoints."""
    num_workers: int
    num_ps: int
    train_steps: int
    batch_size: int
    learning_rate: float


def _training_values(
    settings: settings_module.Settings, parameters: TrainingParameters
) -> tuple[dict[str, object], list[str]]:
    """The values both training templates take, and the extra flags every task gets; raises ConfigError.

    Raises TypeError, as a signature would, for a missing or unknown parameter: `**parameters` accepts any name.
    """
    missing = TrainingParameters.__required_keys__ - parameters.keys()
    unknown = parameters.keys() - TrainingParameters.__required_keys__ - TrainingParameters.__optional_keys__
    if missing or unknown:
        raise TypeError(f"training parameters: missing {sorted(missing)}, unknown {sorted(unknown)}")
    counts = {
        "num_workers": parameters["num_workers"],
        "num_ps": parameters["num_ps"],
        "train_steps": parameters["train_steps"],
        "batch_size": parameters["batch_size"],
    }
    for name, value in counts.items():
        checks.integer(name, value, minimum=1)
    checks.number("learning_rate", parameters["learning_rate"], above=0, below=1)
    train_subset = parameters.get("train_subset", 0)
    test_subset = parameters.get("test_subset", 0)
    checks.integer("train_subset", train_subset, minimum=0, maximum=data.TRAIN_EXAMPLES)
    checks.integer("test_subset", test_subset, minimum=0, maximum=data.TEST_EXAMPLES)
    job_name = f"{settings.app_name}-train"
    values = {
        "job_name": job_name,
        "image": parameters["image"],
        "model_dir": f"{run_uri(settings, job_name)}/{parameters['run_id']}",
        "export_dir": export_uri(settings),
        "data_uri": data_uri(settings),
        **counts,
        "learning_rate": parameters["learning_rate"],
    }
    # The full run uses all 70,000 images.
    extra = [f"--train-subset={train_subset}"] * bool(train_subset) + [f"--test-subset={test_subset}"] * bool(
        test_subset
    )
    return values, extra


def tfjob(*, settings: settings_module.Settings, **parameters: Unpack[TrainingParameters]) -> manifests.Resource:
    """The distributed training job: a Chief, `num_ps` parameter servers and `num_workers` workers.

    Each run writes checkpoints and events to its own folder (`run_uri`), so a re-run with
    other hyperparameters starts fresh while a restarted chief of the same run resumes.
    Raises ConfigError naming a count, rate or subset of the wrong type or out of range.
    """
    values, extra = _training_values(settings, parameters)
    (job,) = _render("tfjob", settings, values)
    for replica in job["spec"]["tfReplicaSpecs"].values():
        for container in replica["template"]["spec"]["containers"]:
            container["args"] = [*container.get("args", []), *extra]
    return job


def training_runtime(*, settings: settings_module.Settings) -> manifests.Resource:
    """The `tensorflow-ps` ClusterTrainingRuntime (manifests/tf-ps-runtime.yaml), as an administrator installs it.

    Read as it is, without placeholders or the series' labels: it belongs to the cluster, not to a run
    (clean-up never deletes it). A plain copy: the file shares env between the three jobs with YAML anchors.
    """
    path = manifests.template_path(RUNTIME_TEMPLATE)
    runtime: manifests.Resource = json.loads(json.dumps(yaml.safe_load(path.read_text())))
    return runtime


def runtime_counts(runtime: manifests.Resource) -> dict[str, int]:
    """The pods each of a runtime's replicated jobs runs (its `parallelism`), by job name."""
    return {
        job["name"]: int(job["template"]["spec"].get("parallelism", 1))
        for job in runtime["spec"]["template"]["spec"]["replicatedJobs"]
    }


def trainjob(
    *,
    settings: settings_module.Settings,
    runtime: manifests.Resource | None = None,
    **parameters: Unpack[TrainingParameters],
) -> manifests.Resource:
    """The same training as `tfjob`, as a TrainJob (Kubeflow Trainer v2) on the `tensorflow-ps` runtime.

    `numNodes` is the workers' count; the chief and the parameter servers are the runtime's, so `num_ps`
    must equal the runtime's ps count (`runtime`, by default the repository's). Raises ConfigError naming
    the parameter that cannot be run.
    """
    values, extra = _training_values(settings, parameters)
    runtime = runtime or training_runtime(settings=settings)
    runtime_ps = runtime_counts(runtime).get("ps")
    if runtime_ps != parameters["num_ps"]:
        raise errors.ConfigError(
            "num_ps",
            parameters["num_ps"],
            f"the {runtime['metadata']['name']} runtime runs {runtime_ps} parameter server(s), an administrator's "
            "choice: use that count, or training_api=tfjob",
        )
    (job,) = _render("trainjob", settings, {**values, "runtime_name": runtime["metadata"]["name"]})
    job["spec"]["trainer"]["args"] = [*job["spec"]["trainer"]["args"], *extra]
    return job


def training_job(
    *, api: str, settings: settings_module.Settings, **parameters: Unpack[TrainingParameters]
) -> manifests.Resource:
    """The training job for `api` ("tfjob" or "trainjob", see `Backend.training_api`) with `tfjob`'s parameters.

    Raises ConfigError for another API or a parameter that cannot be run.
    """
    if api == "tfjob":
        return tfjob(settings=settings, **parameters)
    if api == "trainjob":
        return trainjob(settings=settings, **parameters)
    raise errors.ConfigError("training_api", api, "must be tfjob or trainjob once resolved")
