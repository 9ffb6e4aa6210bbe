"""The base class both backends share, and the registry that maps a name to one.

Modelled on papermill's engine registry: `register` adds a class under its `name`, `get`
builds the one the settings ask for and raises ConfigError for a name it does not know.
"""

from __future__ import annotations

import abc
import importlib
from typing import ClassVar

from helpers import errors, report, settings as settings_module

_REGISTRY: dict[str, type[Backend]] = {}
# Modules that register a backend when imported; imported lazily so that `import helpers`
# never pulls in the kubernetes client or TensorFlow.
_MODULES = {"local": "helpers.backends.local", "kubeflow": "helpers.backends.kubeflow"}


class Backend(abc.ABC):
    """What every notebook step needs from wherever it runs."""

    name: ClassVar[str]

    def __init__(self, *, settings: settings_module.Settings) -> None:
        self.settings = settings

    @abc.abstractmethod
    def check_identity(self) -> report.Report:
        """Say who the calls run as and whether storage and registry answer."""

    @abc.abstractmethod
    def ensure_storage(self) -> report.Report:
        """Create the bucket and image repository (or their local stand-ins) if missing."""

    @abc.abstractmethod
    def grant_access(self, *, node_role_name: str = "") -> report.Report:
        """Give the pods credentials and the least privilege they need."""


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
