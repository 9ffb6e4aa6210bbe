"""One typed settings object for the whole series, built once per notebook.

Values come in layers, later ones winning: defaults, the settings that an earlier notebook
saved in the state file, `MNIST_*` environment variables, then the notebook's parameters.
An empty parameter means "not given", so later notebooks pick up what 01 chose.
"""

from __future__ import annotations

import os
import pathlib
import re
import socket
from collections.abc import Callable
from typing import Any, Literal

import pydantic

from helpers import errors, report, state
from helpers.aws import partition

ENV_PREFIX = "MNIST_"
# Where a pod finds its service-account token; its presence means "inside a cluster".
SERVICE_ACCOUNT_TOKEN = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
# Suffix of the pods' own ServiceAccount (`<app_name>-workloads`) when `service_account` is empty.
WORKLOADS_SUFFIX = "-workloads"
# How long `auto` waits for the API server to accept a connection before choosing local.
API_PROBE_TIMEOUT_S = 1.0

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
# Settings that name an AWS object, checked by the rule the IAM policies use too; empty means "not given".
_AWS_NAME_CHECKS: dict[str, tuple[Callable[[str], bool], str]] = {
    "bucket": (partition.is_bucket_name, "is not a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-')"),
    "role_arn": (partition.is_role_arn, "is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"),
}


def _default_state_dir() -> pathlib.Path:
    return pathlib.Path.home() / ".kubeflow-mnist"


class Settings(pydantic.BaseModel):
    """Where and how the series runs; every notebook builds one with `load` and passes it on."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    backend: Literal["auto", "local", "kubeflow"] = "auto"
    """Executor: `local` runs the manifests as local processes, `kubeflow` applies them to
    the cluster, `auto` picks kubeflow inside a pod that reaches its API server."""
    training_api: Literal["auto", "tfjob", "trainjob"] = "auto"
    """How notebook 03 trains: `tfjob` (training operator v1, kubeflow.org/v1), `trainjob` (Kubeflow
    Trainer v2, trainer.kubeflow.org/v1alpha1, on the `tensorflow-ps` runtime) or `auto`: on a cluster,
    TrainJob when Trainer v2 serves it and the runtime is installed, else TFJob; locally, TFJob."""
    namespace: str = "kubeflow-user-example-com"
    """Kubernetes namespace (a Kubeflow profile namespace) for every resource."""
    region: str = "us-west-2"
    """AWS region of the bucket and repository; a `cn-` region selects the aws-cn partition."""
    bucket: str = ""
    """S3 bucket for data, build contexts, checkpoints and models; empty until 01 picks one."""
    repository: str = "kubeflow-mnist/train"
    """ECR repository name of the training image."""
    ui_repository: str = "kubeflow-mnist/webui"
    """ECR repository name of the web UI image."""
    app_name: str = "mnist"
    """Prefix of every resource name (TFJob, Deployments, Services) and of the common labels."""
    role_arn: str = ""
    """IAM role for IRSA; when set, pods use a ServiceAccount annotated with it instead of
    the `aws-secret` Secret."""
    service_account: str = ""
    """ServiceAccount the series' pods run as; empty: `<app_name>-workloads`, which 01 creates (annotated
    with `role_arn` for IRSA). Not the profile's `default-editor`, so the role reaches only these pods."""
    aws_profile: str = ""
    """Named AWS profile to take credentials from; empty: the default chain."""
    state_dir: pathlib.Path = pydantic.Field(default_factory=_default_state_dir)
    """Folder for the state file, the local object store, registry, logs and processes."""
    wait_timeout_s: float = 900.0
    """Seconds to wait for a job, rollout or server before giving up."""
    stop_grace_s: float = 5.0
    """Seconds a stopped process gets between SIGTERM and SIGKILL."""
    api_retries: int = 4
    """Attempts for a call that failed with a transient error (throttling, 5xx, reset)."""
    api_backoff_s: float = 1.0
    """First wait between attempts, in seconds; doubled after each failure."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _workloads_service_account(cls, values: Any) -> Any:
        """An empty `service_account` becomes `<app_name>-workloads`."""
        if isinstance(values, dict) and not values.get("service_account"):
            app_name = values.get("app_name") or cls.model_fields["app_name"].default
            return {**values, "service_account": f"{app_name}{WORKLOADS_SUFFIX}"}
        return values

    @pydantic.field_validator("namespace", "app_name", "service_account")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not (_DNS_LABEL.match(value) and len(value) <= 63):
            raise ValueError("must be a DNS-1123 label: lower-case letters, digits and '-', at most 63")
        return value

    @pydantic.field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError("is not an AWS region name such as us-west-2 or cn-northwest-1")
        return value

    @pydantic.field_validator(*_AWS_NAME_CHECKS)
    @classmethod
    def _aws_name(cls, value: str, info: pydantic.ValidationInfo) -> str:
        is_valid, problem = _AWS_NAME_CHECKS[info.field_name or ""]
        if value and not is_valid(value):
            raise ValueError(problem)
        return value

    @pydantic.field_validator("repository", "ui_repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not _REPOSITORY.match(value) or len(value) > 256:
            raise ValueError("is not a valid ECR repository name (lower-case, '/', '.', '_', '-')")
        return value

    @pydantic.field_validator("wait_timeout_s", "stop_grace_s", "api_backoff_s")
    @classmethod
    def _positive_seconds(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be a positive number of seconds")
        return value

    @pydantic.field_validator("api_retries")
    @classmethod
    def _retries(cls, value: int) -> int:
        if not 1 <= value <= 20:
            raise ValueError("must be between 1 and 20 attempts")
        return value

    @property
    def partition(self) -> str:
        """The AWS partition of the region: `aws`, `aws-cn` or `aws-us-gov`."""
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    def require(self, field: str) -> Any:
        """Return a field that an earlier notebook must have set; raises ConfigError if empty."""
        value = getattr(self, field)
        if not value:
            raise errors.ConfigError(field, value, "is not set yet: run 01_aws_setup first or pass it as a parameter")
        return value


def _from_environment(environ: dict[str, str]) -> dict[str, str]:
    """The settings given as MNIST_<FIELD> environment variables (empty ones ignored)."""
    found = {}
    for field in Settings.model_fields:
        value = environ.get(ENV_PREFIX + field.upper(), "")
        if value:
            found[field] = value
    return found


def _given(parameters: dict[str, Any]) -> dict[str, Any]:
    """The notebook parameters that were really given: `None` and "" mean "not given"."""
    unknown = sorted(set(parameters) - set(Settings.model_fields))
    if unknown:
        known = ", ".join(Settings.model_fields)
        raise errors.ConfigError(unknown[0], parameters[unknown[0]], f"is not a setting; known settings: {known}")
    return {name: value for name, value in parameters.items() if value is not None and value != ""}


def _build(values: dict[str, Any]) -> Settings:
    try:
        return Settings(**values)
    except pydantic.ValidationError as e:
        first = e.errors()[0]
        parameter = str(first["loc"][0]) if first["loc"] else "settings"
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise errors.ConfigError(parameter, first.get("input"), reason) from e


def in_cluster(*, token_path: pathlib.Path = SERVICE_ACCOUNT_TOKEN, environ: dict[str, str] | None = None) -> bool:
    """True inside a pod whose service-account token exists and whose API server answers."""
    environ = dict(os.environ) if environ is None else environ
    host = environ.get("KUBERNETES_SERVICE_HOST")
    if not host or not token_path.exists():
        return False
    port = int(environ.get("KUBERNETES_SERVICE_PORT", "443"))
    try:
        with socket.create_connection((host, port), timeout=API_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def load(*, environ: dict[str, str] | None = None, **parameters: Any) -> Settings:
    """Build the settings from defaults, the state file, the environment and `parameters`.

    `backend="auto"` is resolved here, once. Raises ConfigError naming the first bad value.
    """
    environ = dict(os.environ) if environ is None else environ
    given = _given(parameters)
    from_env = _from_environment(environ)
    state_dir = given.get("state_dir") or from_env.get("state_dir") or _default_state_dir()
    state_dir = _build({"state_dir": state_dir}).state_dir.expanduser().resolve()
    saved = state.read(state_dir).get("settings", {})
    values = {**saved, **from_env, **given, "state_dir": state_dir}
    values = {name: value for name, value in values.items() if name in Settings.model_fields}
    settings = _build(values)
    if settings.backend == "auto":
        settings = settings.model_copy(update={"backend": "kubeflow" if in_cluster(environ=environ) else "local"})
    return settings


def save(settings: Settings) -> None:
    """Record the settings in the state file, so later notebooks start from them.

    A derived `service_account` is not recorded, so a later `app_name` derives its own again.
    """
    exclude = {"state_dir"}
    if settings.service_account == f"{settings.app_name}{WORKLOADS_SUFFIX}":
        exclude.add("service_account")
    state.update(settings.state_dir, "settings", settings.model_dump(mode="json", exclude=exclude))


def describe(settings: Settings) -> report.Report:
    """The settings as a table for the notebook; settings hold no secrets, so all are shown."""
    rows = tuple(
        report.Row(name, str(value), "default" if value == Settings.model_fields[name].default else "set")
        for name, value in settings.model_dump().items()
    )
    return report.Report(f"Settings ({settings.backend} backend)", rows)
