"""The local backend: the same manifests, run as local processes on this machine.

Off a cluster the bucket is a folder (`<state_dir>/s3/<bucket>`), the image repository is a
folder of build contexts (`<state_dir>/registry/<repository>`), and AWS is not called at all.
"""

from __future__ import annotations

import logging
import pathlib
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from helpers import errors, image, manifests, report, settings as settings_module, state, workloads
from helpers.aws import s3
from helpers.backends import base
from helpers.local import (
    cleanup as local_cleanup,
    containers,
    deployments,
    tfjob as local_tfjob,
    trainjob as local_trainjob,
)

logger = logging.getLogger(__name__)

REGISTRY_DIR = "registry"
# Seconds to wait for `docker info`: a client without an engine answers at once, a stuck
# engine should not hold up the notebook.
DOCKER_PROBE_TIMEOUT_S = 10


def registry_root(settings: settings_module.Settings) -> pathlib.Path:
    """The folder that stands in for ECR: one subfolder per repository."""
    return settings.state_dir / REGISTRY_DIR


def docker_engine_answers() -> bool:
    """True when a `docker` client exists and its engine answers `docker info`."""
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=DOCKER_PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _docker_build(context: image.BuildContext, uri: str) -> None:
    with context.tarball.open("rb") as tarball:
        built = subprocess.run(
            ["docker", "build", "-f", context.dockerfile, "-t", uri, "-"],
            stdin=tarball,
            capture_output=True,
            text=True,
            check=False,
        )
    if built.returncode != 0:
        raise errors.ProcessFailed("docker build", built.returncode, tail="\n".join(built.stderr.splitlines()[-20:]))


def _ensure_dir(path: pathlib.Path) -> str:
    if path.is_dir():
        return "exists"
    path.mkdir(parents=True)
    return "created"


@base.register
class LocalBackend(base.Backend):
    """Runs everything on this machine; needs no AWS account and no cluster."""

    name = "local"
    # How `copy_tree` copies one file; an attribute so a test can interrupt a copy half way.
    copy_file: Callable[[pathlib.Path, pathlib.Path], object] = staticmethod(shutil.copyfile)

    def check_identity(self) -> report.Report:
        """Nothing to check off-cluster: report that AWS is not used."""
        return report.Report(
            "Identity",
            (report.Row("AWS account", "not used by the local backend", "skipped"),),
        )

    def ensure_storage(self, *, node_role_name: str = "") -> report.Report:
        """Create the local bucket and registry folders and record the bucket in the state file."""
        bucket = self.settings.bucket or f"{self.settings.app_name}-local"
        self.settings = self.settings.model_copy(update={"bucket": bucket})
        bucket_dir = containers.local_object_path(f"s3://{bucket}", settings=self.settings)
        repositories = [
            registry_root(self.settings) / name for name in (self.settings.repository, self.settings.ui_repository)
        ]
        rows = (
            report.Row("bucket", str(bucket_dir), _ensure_dir(bucket_dir)),
            *(report.Row("image repository", str(folder), _ensure_dir(folder)) for folder in repositories),
        )
        settings_module.save(self.settings)
        return report.Report("Storage and registry (local folders)", rows)

    def grant_access(self) -> report.Report:
        """Nothing to grant: local processes run with the caller's own rights."""
        return report.Report(
            "Access for pods",
            (report.Row("credentials", "local processes use your own environment", "skipped"),),
        )

    def build_image(
        self, *, context: image.BuildContext, builder_image: str, repository: str, record_as: str
    ) -> report.Report:
        """Keep the context in the local registry folder; `docker build` it only where an engine answers.

        Without a Docker engine the local backend runs model/model.py from the source tree,
        which is what the image would contain; the report says so.
        """
        repository_dir = registry_root(self.settings) / repository
        repository_dir.mkdir(parents=True, exist_ok=True)
        stored = repository_dir / context.tarball.name
        status = "exists" if stored.exists() else "stored"
        if status == "stored":
            shutil.copyfile(context.tarball, stored)
        uri = f"{repository}:{context.tag}"
        if docker_engine_answers():
            _docker_build(context, uri)
            built_with, how = "docker", "built"
        else:
            built_with, how = "source tree", "skipped"
        state.save(
            self.settings.state_dir,
            state.Image(uri=uri, tag=context.tag, context=str(stored), built_with=built_with),
            section=record_as,
        )
        rows = (
            report.Row("build context", str(stored), status),
            report.Row("image", uri, "recorded"),
            report.Row(
                "docker build",
                "docker engine"
                if built_with == "docker"
                else "no Docker engine: replicas run model/model.py from the source tree",
                how,
            ),
        )
        return report.Report(f"{base.IMAGE_TITLES.get(record_as, record_as)} (local)", rows)

    def upload(self, path: pathlib.Path, uri: str) -> None:
        """Copy `path` into the local object store at `uri`."""
        target = containers.local_object_path(uri, settings=self.settings)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)

    def fetch(self, uri: str) -> pathlib.Path:
        """The object store already is a folder: the path of `uri` in it."""
        return containers.local_object_path(uri, settings=self.settings)

    def copy_tree(self, source_uri: str, target_uri: str) -> None:
        """Copy file by file, as an S3 upload lands, then write the completion marker last: the local
        model server (like the cluster's sync sidecar) takes the version only once the marker is there.

        A copy that stops half way leaves a version without a marker, which is never served; copying
        again completes it. Raises ConfigError when the source is not a complete version itself, OSError
        from `copy_file`.
        """
        source = containers.local_object_path(source_uri, settings=self.settings)
        target = containers.local_object_path(target_uri, settings=self.settings)
        if not s3.is_complete(source):
            raise errors.ConfigError(
                "source_uri", source_uri, f"is not a complete model version (no {s3.COMPLETE_MARKER})"
            )
        for path in sorted(source.rglob("*")):
            if path.is_file() and path.name != s3.COMPLETE_MARKER:
                destination = target / path.relative_to(source)
                destination.parent.mkdir(parents=True, exist_ok=True)
                self.copy_file(path, destination)
        s3.write_marker(target)

    def training_api(self) -> str:
        """`settings.training_api`; `auto` is TFJob here, the path the series' faults and benchmarks measure.

        Both run locally: a TrainJob on the repository's `tensorflow-ps` runtime, as if installed.
        """
        return "tfjob" if self.settings.training_api == "auto" else self.settings.training_api

    def run_training(self, job: manifests.Resource, *, on_line: base.OnLine | None = None) -> dict[str, Any]:
        """Run every replica as a local process with the operator's TF_CONFIG; see helpers.local.tfjob.

        A TrainJob runs on the repository's runtime through the same runner (helpers.local.trainjob)
        and its status comes back in TrainJob's shape (Complete/Failed, jobsStatus).
        """
        timeout_s = self.settings.wait_timeout_s
        if job["kind"] == "TrainJob":
            runtime = workloads.training_runtime(settings=self.settings)
            return local_trainjob.run(
                job, runtime=runtime, settings=self.settings, on_line=on_line, timeout_s=timeout_s
            )
        status = local_tfjob.run(job, settings=self.settings, on_line=on_line, timeout_s=timeout_s)
        return status.to_dict()

    def replica_logs(self, job: manifests.Resource, *, tail_lines: int) -> dict[str, str]:
        """The tails of the per-replica log files the local run kept (the same folder for both kinds)."""
        folder = local_tfjob.job_dir(job["metadata"]["name"], settings=self.settings)
        return {
            path.stem: "\n".join(path.read_text(errors="replace").splitlines()[-tail_lines:])
            for path in sorted(folder.glob("*.log"))
        }

    def deploy(self, resources: list[manifests.Resource]) -> dict[str, str]:
        """Start (or replace) each Deployment as a local process and wait until its readiness probe passes."""
        urls = deployments.apply(resources, settings=self.settings)
        for resource in resources:
            if resource["kind"] == "Deployment":
                deployments.wait_ready(resource["metadata"]["name"], settings=self.settings)
        return urls

    def clean_up(self, *, bucket: bool, repository: bool) -> list[report.Row]:
        """Stop local servers and leftover replicas, remove the run folder and, when asked, the bucket and
        registry folders."""
        return local_cleanup.clean_up(
            settings=self.settings, registry_root=registry_root(self.settings), bucket=bucket, repository=repository
        )

    def undeploy(self, resources: list[manifests.Resource]) -> None:
        """Stop the local processes of the Deployments in `resources`."""
        for resource in resources:
            if resource["kind"] == "Deployment":
                deployments.delete(resource["metadata"]["name"], settings=self.settings)
