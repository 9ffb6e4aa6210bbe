"""The local backend: the same manifests, run as local processes on this machine.

Off a cluster the bucket is a folder (`<state_dir>/s3/<bucket>`), the image repository is a
folder of build contexts (`<state_dir>/registry/<repository>`), and AWS is not called at all.
"""

from __future__ import annotations

import pathlib

from helpers import report, settings as settings_module
from helpers.backends import base

OBJECT_STORE_DIR = "s3"
REGISTRY_DIR = "registry"


def object_store_root(settings: settings_module.Settings) -> pathlib.Path:
    """The folder that stands in for S3: `s3://bucket/key` is `<root>/bucket/key`."""
    return settings.state_dir / OBJECT_STORE_DIR


def registry_root(settings: settings_module.Settings) -> pathlib.Path:
    """The folder that stands in for ECR: one subfolder per repository."""
    return settings.state_dir / REGISTRY_DIR


def _ensure_dir(path: pathlib.Path) -> str:
    if path.is_dir():
        return "exists"
    path.mkdir(parents=True)
    return "created"


@base.register
class LocalBackend(base.Backend):
    """Runs everything on this machine; needs no AWS account and no cluster."""

    name = "local"

    def check_identity(self) -> report.Report:
        """Nothing to check off-cluster: report that AWS is not used."""
        return report.Report(
            "Identity",
            (report.Row("AWS account", "not used by the local backend", "skipped"),),
        )

    def ensure_storage(self) -> report.Report:
        """Create the local bucket and registry folders and record the bucket in the state file."""
        bucket = self.settings.bucket or f"{self.settings.app_name}-local"
        self.settings = self.settings.model_copy(update={"bucket": bucket})
        bucket_dir = object_store_root(self.settings) / bucket
        repository_dir = registry_root(self.settings) / self.settings.repository
        rows = (
            report.Row("bucket", str(bucket_dir), _ensure_dir(bucket_dir)),
            report.Row("image repository", str(repository_dir), _ensure_dir(repository_dir)),
        )
        settings_module.save(self.settings)
        return report.Report("Storage and registry (local folders)", rows)

    def grant_access(self, *, node_role_name: str = "") -> report.Report:
        """Nothing to grant: local processes run with the caller's own rights."""
        return report.Report(
            "Access for pods",
            (report.Row("credentials", "local processes use your own environment", "skipped"),),
        )
