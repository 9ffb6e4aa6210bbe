"""Remove everything the series created, on either backend, so a workshop leaves nothing running or billed.

Local: servers and leftover replicas (through their pid records, never an unrelated process), the
run folder and the state file's outputs. Kubeflow: every object labelled part of the series, waited
until gone; a kind the profile may not list or delete (a VirtualService an administrator applied),
or that the cluster does not serve, is skipped and named in the report. The bucket and image
repository go only when asked. Safe to run twice; `make clean` runs it.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import pathlib
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

from helpers import errors, manifests, report, settings as settings_module, state
from helpers.aws import ecr, s3
from helpers.backends import local as local_backend
from helpers.local import containers, deployments, pids, services, tfjob

PART_OF_SELECTOR = f"app.kubernetes.io/part-of={manifests.PART_OF}"
# Every kind the notebooks apply, in the order they apply them; deletion runs in reverse, so
# users go before what they use and the pods' ServiceAccount and the Secret holding the AWS keys go last.
CLUSTER_KINDS = (
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "Job",
    "TFJob",
    "TrainJob",
    "PersistentVolumeClaim",
    "Tensorboard",
    "Deployment",
    "Service",
    "VirtualService",
)
# Kinds the series may not have been allowed to create (routes are optional from Kubeflow 1.10 on):
# a 403 on them is reported, never fatal.
OPTIONAL_KINDS = frozenset({"VirtualService", "Tensorboard"})
# The ServiceAccounts of the Kubeflow profile itself: never the series' to delete, even when a
# user ran the pods as one of them and an earlier version labelled it.
PROFILE_ACCOUNTS = frozenset({"default-editor", "default-viewer"})
# The one state section clean-up keeps: the next run starts from the same bucket and names.
KEPT_SECTION = "settings"

REMOVED = "removed"
STOPPED = "stopped"
GONE = "already gone"
KEPT = "kept"
SKIPPED = "skipped"


def clean_up(*, settings: settings_module.Settings, bucket: bool = False, repository: bool = False) -> report.Report:
    """Remove what the series created on `settings.backend`; returns one row per thing removed, gone or kept.

    The bucket (with every object version) and the image repository are removed only when
    `bucket` / `repository` are True. Raises ConfigError for an unresolved backend, ClusterError,
    AwsError or WaitTimeout when a removal is refused or does not finish; what is already gone
    never raises. The state file's outputs are forgotten only after everything else went.
    """
    if settings.backend == "local":
        rows = _local(settings, bucket=bucket, repository=repository)
    elif settings.backend == "kubeflow":
        rows = _kubeflow(settings, bucket=bucket, repository=repository)
    else:
        raise errors.ConfigError("backend", settings.backend, "clean-up needs a resolved backend: local or kubeflow")
    rows += _forget_outputs(settings)
    return report.Report(f"Clean-up ({settings.backend} backend)", tuple(rows))


def _local(settings: settings_module.Settings, *, bucket: bool, repository: bool) -> list[report.Row]:
    """Stop local servers and replicas, remove the run folder and, when asked, the bucket and registry folders."""
    rows = [report.Row("Deployment", name, STOPPED) for name in deployments.stop_all(settings)]
    rows += _stop_leftover_replicas(settings)
    if not rows:
        rows.append(report.Row("local processes", "none running", GONE))
    run_folder = services.local_dir(settings)
    rows.append(report.Row("local run folder", str(run_folder), REMOVED if _remove_tree(run_folder) else GONE))
    bucket_dir = containers.local_object_path(f"s3://{settings.bucket}", settings=settings) if settings.bucket else None
    rows.append(
        _optional(
            "bucket",
            str(bucket_dir or ""),
            asked=bucket,
            flag="--bucket",
            remove=lambda: bucket_dir is not None and _remove_tree(bucket_dir),
        )
    )
    registry_root = local_backend.registry_root(settings)
    for name in (settings.repository, settings.ui_repository):
        repository_dir = registry_root / name
        rows.append(
            _optional(
                "image repository",
                str(repository_dir),
                asked=repository,
                flag="--repository",
                remove=functools.partial(_remove_tree, repository_dir, up_to=registry_root),
            )
        )
    return rows


def _stop_leftover_replicas(settings: settings_module.Settings) -> list[report.Row]:
    """Stop the replicas that runs recorded but never stopped (their kernel died); returns a row for each."""
    rows = []
    # A run keeps pids.json in its job folder (tfjob.job_dir) only while its replicas run.
    for pids_file in sorted(services.local_dir(settings).glob(f"jobs/*/{tfjob.PIDS_FILE}")):
        try:
            records: dict[str, pids.ProcessRecord] = json.loads(pids_file.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise errors.ConfigError("state_dir", str(settings.state_dir), f"{pids_file} is unreadable ({e})") from e
        for replica, record in sorted(records.items()):
            # pids.stop signals only when pid and start time still match the recorded process.
            if pids.stop(record, grace_s=settings.stop_grace_s):
                name = f"{pids_file.parent.name}/{replica} (pid {record['pid']})"
                rows.append(report.Row("TFJob replica", name, STOPPED))
        pids_file.unlink()
    return rows


def _kubeflow(settings: settings_module.Settings, *, bucket: bool, repository: bool) -> list[report.Row]:
    """Delete the series' cluster objects by label and, when asked, the S3 bucket and the ECR repository."""
    # Imported here, as the backend registry does: the kubernetes client takes seconds to import
    # and local clean-up never needs it.
    from helpers.backends import kubeflow

    backend = kubeflow.KubeflowBackend(settings=settings)
    api = backend.api
    rows: list[report.Row] = []
    try:
        for kind in reversed(CLUSTER_KINDS):
            rows += _delete_kind(kind, api=api, settings=settings)
    finally:
        api.close()
    if not any(row.status == REMOVED for row in rows):
        where = f"labelled {PART_OF_SELECTOR} in namespace {settings.namespace}"
        rows.insert(0, report.Row("cluster objects", where, GONE))
    if settings.service_account in PROFILE_ACCOUNTS:
        annotation = "; its IRSA annotation stays" if settings.role_arn else ""
        account = f"{settings.namespace}/{settings.service_account} (belongs to the Kubeflow profile{annotation})"
        rows.append(report.Row("ServiceAccount", account, KEPT))
    rows.append(
        _optional(
            "S3 bucket",
            f"s3://{settings.bucket}" if settings.bucket else "",
            asked=bucket,
            flag="--bucket",
            remove=lambda: s3.delete_bucket(session=backend.session, bucket=settings.bucket),
        )
    )
    for name in (settings.repository, settings.ui_repository):
        rows.append(
            _optional(
                "ECR repository",
                name,
                asked=repository,
                flag="--repository",
                remove=functools.partial(ecr.delete_repository, session=backend.session, name=name),
            )
        )
    cache = settings.state_dir / kubeflow.CACHE_DIR
    rows.append(report.Row("download cache", str(cache), REMOVED if _remove_tree(cache) else GONE))
    return rows


def _delete_kind(kind_name: str, *, api: Any, settings: settings_module.Settings) -> list[report.Row]:
    """Delete the series' objects of one kind; returns a row per object removed, or why none was.

    A kind this identity may not list, or that the cluster does not serve, gives a "skipped" row;
    objects of an optional kind it may not delete (a route an administrator applied) "kept" rows.
    Raises ClusterError for any other refusal, WaitTimeout when an object does not go.
    """
    from helpers.cluster import _fetch, _kinds, access, delete

    kind = _kinds.by_name(kind_name)
    if not access.may("list", kind, api=api, settings=settings):
        if not access.may("create", kind, api=api, settings=settings):
            return []  # the series could never have made one here (e.g. TrainJobs before Kubeflow 1.11)
        return [report.Row(kind_name, f"not looked for: this ServiceAccount may not list {kind.resource}", SKIPPED)]
    try:
        found = _fetch.list_objects(
            kind, api=api, settings=settings, namespace=settings.namespace, selector=PART_OF_SELECTOR, action="delete"
        )
    except errors.ClusterError as e:
        if e.status == 404:
            return [report.Row(kind_name, f"the cluster does not serve {kind.resource}", SKIPPED)]
        if e.status == 403 and kind_name in OPTIONAL_KINDS:
            return [report.Row(kind_name, f"not looked for: listing {kind.resource} was refused", SKIPPED)]
        raise
    # List items carry no apiVersion/kind of their own; the collection says what they are.
    resources: list[dict[str, Any]] = [
        {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {"name": item["metadata"]["name"]}}
        for item in found
        if not (kind_name == "ServiceAccount" and item["metadata"]["name"] in PROFILE_ACCOUNTS)
    ]
    if not resources:
        return []
    # A kind the series must have been able to create must be deletable too: a refusal there raises.
    if kind_name in OPTIONAL_KINDS and not access.may("delete", kind, api=api, settings=settings):
        why = "this ServiceAccount may not delete them; an administrator can"
        return [report.Row(kind_name, f"{item['metadata']['name']} ({why})", KEPT) for item in resources]
    try:
        deleted = delete.delete(resources, api=api, settings=settings)
    except errors.ClusterError as e:
        if e.status == 403 and kind_name in OPTIONAL_KINDS:
            return [report.Row(kind_name, f"deletion was refused: {e}", KEPT)]
        raise
    return [report.Row("cluster object", target, REMOVED) for target in deleted]


def _optional(item: str, name: str, *, asked: bool, flag: str, remove: Callable[[], bool]) -> report.Row:
    """Remove `item` only when asked (`remove` returns False when it was gone); otherwise say how to."""
    if not name:
        return report.Row(item, "none chosen yet", GONE)
    if not asked:
        return report.Row(item, f"{name} (pass {flag} to remove it)", KEPT)
    return report.Row(item, name, REMOVED if remove() else GONE)


def _remove_tree(path: pathlib.Path, *, up_to: pathlib.Path | None = None) -> bool:
    """Remove the folder `path`, then its parents that became empty below `up_to`; False when it was gone.

    Raises ConfigError when the folder cannot be removed.
    """
    if not path.exists():
        return False
    try:
        shutil.rmtree(path)
        parent = path.parent
        while up_to is not None and parent != up_to and parent.is_relative_to(up_to) and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    except OSError as e:
        raise errors.ConfigError("state_dir", str(path), f"cannot remove it: {e}") from e
    return True


def _forget_outputs(settings: settings_module.Settings) -> list[report.Row]:
    """Remove every state section but the settings, so no later notebook finds an output that is gone."""
    sections = sorted(set(state.read(settings.state_dir)) - {KEPT_SECTION})
    for section in sections:
        state.remove(settings.state_dir, section)
    rows = [report.Row("state section", section, REMOVED) for section in sections]
    if not rows:
        rows.append(report.Row("state sections", "outputs of the notebooks", GONE))
    rows.append(report.Row("state section", KEPT_SECTION, KEPT))
    return rows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers.cleanup", description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", action="store_true", help="also delete the bucket and everything in it")
    parser.add_argument("--repository", action="store_true", help="also delete the image repository")
    parser.add_argument("--state-dir", default=None, help="the state folder (default: the saved or usual one)")
    parser.add_argument("--backend", choices=["local", "kubeflow"], default=None, help="default: the saved one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (`make clean`, `make clean-all`); returns 0, or 2 after a one-line error."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    arguments = _parser().parse_args(argv)
    try:
        settings = settings_module.load(backend=arguments.backend, state_dir=arguments.state_dir)
        done = clean_up(settings=settings, bucket=arguments.bucket, repository=arguments.repository)
    except errors.HelpersError as e:
        print("error: " + " ".join(str(e).split()), file=sys.stderr)
        return 2
    print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
