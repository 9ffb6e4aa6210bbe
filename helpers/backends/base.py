"""The base class both backends share, and the registry that maps a name to one.

Modelled on papermill's engine registry: `register` adds a class under its `name`, `get`
builds the one the settings ask for and raises ConfigError for a name it does not know.
"""

from __future__ import annotations

import abc
import importlib
import pathlib
from collections.abc import Callable
from typing import Any, ClassVar

from helpers import errors, image, manifests, report, settings as settings_module

_REGISTRY: dict[str, type[Backend]] = {}
OnLine = Callable[[str], None]
# Modules that register a backend when imported; imported lazily so that `import helpers`
# never pulls in the kubernetes client or TensorFlow.
_MODULES = {"local": "helpers.backends.local", "kubeflow": "helpers.backends.kubeflow"}
# How a build report names the image it records, by the state section it goes to (02 builds two).
IMAGE_TITLES = {"image": "Training image", "ui_image": "Web UI image"}


class Backend(abc.ABC):
    """What every notebook step needs from wherever it runs."""

    name: ClassVar[str]

    def __init__(self, *, settings: settings_module.Settings) -> None:
        self.settings = settings

    @abc.abstractmethod
    def check_identity(self) -> report.Report:
        """Say who the calls run as and whether storage and registry answer."""

    @abc.abstractmethod
    def ensure_storage(self, *, node_role_name: str = "") -> report.Report:
        """Create the bucket, image repository and access policy (or local stand-ins) if missing.

        Records the chosen bucket in the state file. On AWS the least-privilege policy is
        attached to the IRSA role, else to `node_role_name` when given.
        """

    @abc.abstractmethod
    def grant_access(self) -> report.Report:
        """Give the pods credentials: an IRSA ServiceAccount or the `aws-secret` Secret."""

    @abc.abstractmethod
    def build_image(
        self, *, context: image.BuildContext, builder_image: str, repository: str, record_as: str
    ) -> report.Report:
        """Build `context` into `repository` (tagged with the context's hash); records the image
        under the state section `record_as` ("image" for training, "ui_image" for the web UI)."""

    @abc.abstractmethod
    def upload(self, path: pathlib.Path, uri: str) -> None:
        """Put the local file `path` at `uri` (s3://bucket/key)."""

    @abc.abstractmethod
    def fetch(self, uri: str) -> pathlib.Path:
        """A local path holding what is at `uri` (a file or a folder): downloaded on a cluster."""

    @abc.abstractmethod
    def copy_tree(self, source_uri: str, target_uri: str) -> None:
        """Copy every object under `source_uri` to the same names under `target_uri`, so that
        `target_uri` appears complete (a server polling for it never sees half a copy)."""

    @abc.abstractmethod
    def training_api(self) -> str:
        """The API notebook 03 trains with, "tfjob" or "trainjob": `settings.training_api`, with `auto` resolved.

        Raises ClusterError when the cluster does not serve the API asked for, saying what to install.
        """

    @abc.abstractmethod
    def run_training(self, job: manifests.Resource, *, on_line: OnLine | None = None) -> dict[str, Any]:
        """Run the TFJob or TrainJob to its end (replacing an earlier one of the same name); returns its status.

        `on_line` receives the chief's log lines as they come. Raises ProcessFailed or
        ClusterError when the job failed, WaitTimeout when it ran too long.
        """

    @abc.abstractmethod
    def replica_logs(self, job: manifests.Resource, *, tail_lines: int) -> dict[str, str]:
        """The last lines of each replica's log of a TFJob or TrainJob, by replica name (e.g. "worker-1")."""

    @abc.abstractmethod
    def deploy(self, resources: list[manifests.Resource]) -> dict[str, str]:
        """Apply the resources and wait until every Deployment is ready; returns Service name -> URL
        reachable from this notebook."""

    @abc.abstractmethod
    def undeploy(self, resources: list[manifests.Resource]) -> None:
        """Remove the resources; nothing happens for those already gone."""

    @abc.abstractmethod
    def clean_up(self, *, bucket: bool, repository: bool) -> list[report.Row]:
        """Remove everything the series made here, one row per thing removed, found gone or kept.

        The bucket and the image repositories go only when `bucket` / `repository` are True. What is
        already gone never raises; a refused removal raises the backend's error (ClusterError, AwsError).
        """

    def serves(self, group_version: str) -> bool:
        """Whether the platform serves an API beyond the manifests' own kinds (e.g. Kubeflow's Tensorboard);
        False unless a backend knows better."""
        return False


def register(backend_class: type[Backend]) -> type[Backend]:
    """Add a backend class to the registry under its `name`; usable as a decorator."""
    _REGISTRY[backend_class.name] = backend_class
    return backend_class


def get(*, settings: settings_module.Settings) -> Backend:
    """The backend named by `settings.backend`; raises ConfigError for an unknown name."""
    name = settings.backend
    if name not in _REGISTRY and name in _MODULES:
        importlib.import_module(_MODULES[name])
    if name not in _REGISTRY:
        raise errors.ConfigError("backend", name, f"unknown backend; known: {sorted(_MODULES)}")
    return _REGISTRY[name](settings=settings)
