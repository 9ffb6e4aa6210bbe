"""The catalogue of renders under test: every manifest, with default and with non-default settings.

Each case is an id and a function producing the resources, exactly as a notebook would get
them from `helpers.workloads`, `helpers.aws.credentials` or `helpers.tensorboard`. The tests and
`python -m tests.manifests.regenerate` both read this list, so a golden file and its test can
never disagree about what was rendered.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import json
import pathlib
from typing import Any

import botocore.credentials
import yaml

from helpers import manifests, settings as settings_module, tensorboard, workloads
from helpers.aws import credentials, partition

GOLDEN_DIR = pathlib.Path(__file__).resolve().parent / "golden"
REGENERATE_COMMAND = ".venv/bin/python -m tests.manifests.regenerate"
ACCOUNT = "123456789012"
# AWS's documented example keys: obviously fake, and allow-listed by secret scanners.
FAKE_KEYS = botocore.credentials.ReadOnlyCredentials(
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None
)
# The defaults of notebooks/03_train, and a larger topology on quick settings for the custom case.
TFJOB_DEFAULT: dict[str, Any] = {
    "num_workers": 2,
    "num_ps": 1,
    "train_steps": 2500,
    "batch_size": 128,
    "learning_rate": 0.003,
}
TFJOB_CUSTOM: dict[str, Any] = {
    "num_workers": 3,
    "num_ps": 2,
    "train_steps": 50,
    "batch_size": 64,
    "learning_rate": 0.01,
    "train_subset": 2000,
    "test_subset": 500,
}
BUILDER_IMAGE = "ghcr.io/kaniko-build/dist/chainguard-dev-kaniko/executor:v1.25.6"
IMAGE_TAG = "0123456789ab"


def default_settings() -> settings_module.Settings:
    """The settings a workshop attendee gets after 01 picked a bucket; everything else default."""
    return settings_module.Settings(backend="kubeflow", bucket="mnist-123456789012-us-west-2")


def custom_settings() -> settings_module.Settings:
    """Every setting a manifest reads changed: other namespace and names, IRSA, a China region."""
    return settings_module.Settings(
        backend="kubeflow",
        namespace="team-b",
        region="cn-northwest-1",
        bucket="digits-123456789012-cn-northwest-1",
        repository="team-b/digits-train",
        app_name="digits",
        role_arn="arn:aws-cn:iam::123456789012:role/digits-pods",
        service_account="digits-runner",
    )


@dataclasses.dataclass(frozen=True)
class Case:
    """One render: an id (the golden file's name), its settings and the function producing it."""

    id: str
    settings: collections.abc.Callable[[], settings_module.Settings]
    render: collections.abc.Callable[[settings_module.Settings], list[manifests.Resource]]
    # Default renders are kept as golden files; the custom ones are validated and checked only.
    golden: bool

    def resources(self) -> list[manifests.Resource]:
        """The rendered resources, as plain dicts (what a YAML or JSON dump would hold)."""
        return plain(self.render(self.settings()))


def plain(resources: list[Any]) -> list[manifests.Resource]:
    """Deep copies as plain dicts: `SecretManifest` is a dict subclass that YAML dumpers refuse."""
    copied: list[manifests.Resource] = json.loads(json.dumps(resources))
    return copied


def _build_job(settings: settings_module.Settings) -> list[manifests.Resource]:
    bucket = settings.require("bucket")
    repository = partition.repository_uri(ACCOUNT, settings.region, settings.repository)
    return workloads.build_job(
        settings=settings,
        tag=IMAGE_TAG,
        dockerfile="model/Dockerfile",
        context_uri=f"s3://{bucket}/build-contexts/{IMAGE_TAG}.tar.gz",
        image=f"{repository}:{IMAGE_TAG}",
        builder_image=BUILDER_IMAGE,
    )


def _tfjob(settings: settings_module.Settings, **parameters: Any) -> list[manifests.Resource]:
    image = f"{partition.repository_uri(ACCOUNT, settings.region, settings.repository)}:{IMAGE_TAG}"
    return [workloads.tfjob(settings=settings, image=image, run_id="20260101-120000", **parameters)]


def _trainjob(settings: settings_module.Settings, **parameters: Any) -> list[manifests.Resource]:
    image = f"{partition.repository_uri(ACCOUNT, settings.region, settings.repository)}:{IMAGE_TAG}"
    return [workloads.trainjob(settings=settings, image=image, run_id="20260101-120000", **parameters)]


def _tensorboard(settings: settings_module.Settings) -> list[manifests.Resource]:
    # Everything manifests/tensorboard.yaml holds: both ways of running TensorBoard.
    logdir_uri = workloads.run_uri(settings, f"{settings.app_name}-train")
    return workloads.tensorboard(settings=settings, logdir_uri=logdir_uri)


def _tensorboard_resource(settings: settings_module.Settings) -> list[manifests.Resource]:
    # What 04 applies where the cluster serves Kubeflow's Tensorboard API.
    return tensorboard.kubeflow_resources(_tensorboard(settings))


def _ui(settings: settings_module.Settings) -> list[manifests.Resource]:
    image = f"{partition.repository_uri(ACCOUNT, settings.region, f'{settings.app_name}/ui')}:0.1.0"
    return workloads.ui(settings=settings, ui_image=image)


def _credentials(settings: settings_module.Settings) -> list[manifests.Resource]:
    # What 01 applies: with IRSA the annotated ServiceAccount, else the Secret (here with fake keys).
    if settings.role_arn:
        return [credentials.service_account_manifest(settings=settings)]
    return [credentials.secret_manifest(settings=settings, credentials=FAKE_KEYS)]


def _serving(settings: settings_module.Settings) -> list[manifests.Resource]:
    return workloads.serving(settings=settings)


_RENDERERS: dict[str, collections.abc.Callable[[settings_module.Settings], list[manifests.Resource]]] = {
    "credentials": _credentials,
    "build-job": _build_job,
    "tensorboard": _tensorboard,
    "tensorboard-resource": _tensorboard_resource,
    "serving": _serving,
    "ui": _ui,
}

CASES = [
    *(Case(f"{name}-default", default_settings, render, golden=True) for name, render in _RENDERERS.items()),
    Case("tfjob-default", default_settings, functools.partial(_tfjob, **TFJOB_DEFAULT), golden=True),
    *(Case(f"{name}-custom", custom_settings, render, golden=False) for name, render in _RENDERERS.items()),
    Case("tfjob-custom", custom_settings, functools.partial(_tfjob, **TFJOB_CUSTOM), golden=False),
    # The same training as a TrainJob (Trainer v2); its ps count is the runtime's (one).
    Case("trainjob-default", default_settings, functools.partial(_trainjob, **TFJOB_DEFAULT), golden=True),
    Case(
        "trainjob-custom", custom_settings, functools.partial(_trainjob, **{**TFJOB_CUSTOM, "num_ps": 1}), golden=False
    ),
]
GOLDEN_CASES = [case for case in CASES if case.golden]


def by_id(case_id: str) -> Case:
    """The case called `case_id`; raises KeyError listing the known ids."""
    for case in CASES:
        if case.id == case_id:
            return case
    raise KeyError(f"no case {case_id!r}; known: {[case.id for case in CASES]}")


def golden_path(case: Case) -> pathlib.Path:
    """Where the golden file of `case` lives."""
    return GOLDEN_DIR / f"{case.id}.yaml"


def golden_text(case: Case) -> str:
    """The golden file's expected content: a header, then the resources as YAML documents."""
    header = f"# Golden render of {case.id!r}: do not edit; regenerate with `{REGENERATE_COMMAND}`.\n"
    body = yaml.safe_dump_all(case.resources(), sort_keys=False, default_flow_style=False, width=120)
    return header + body
