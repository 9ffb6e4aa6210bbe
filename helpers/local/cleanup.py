"""The local executor's clean-up: stop its servers and leftover replicas, remove its folders.

Processes are found again through their pid records (never an unrelated process: a record matches
only while pid and start time do), so a kernel that died leaves nothing running after `make clean`.
"""

from __future__ import annotations

import functools
import json
import pathlib

from helpers import errors, removal, report, settings as settings_module
from helpers.local import containers, deployments, pids, services, tfjob


def clean_up(
    *, settings: settings_module.Settings, registry_root: pathlib.Path, bucket: bool, repository: bool
) -> list[report.Row]:
    """Stop local servers and replicas, remove the run folder and, when asked, the bucket and registry folders."""
    rows = [report.Row("Deployment", name, removal.STOPPED) for name in deployments.stop_all(settings)]
    rows += _stop_leftover_replicas(settings)
    if not rows:
        rows.append(report.Row("local processes", "none running", removal.GONE))
    run_folder = services.local_dir(settings)
    rows.append(
        report.Row(
            "local run folder", str(run_folder), removal.REMOVED if removal.remove_tree(run_folder) else removal.GONE
        )
    )
    bucket_dir = containers.local_object_path(f"s3://{settings.bucket}", settings=settings) if settings.bucket else None
    rows.append(
        removal.optional(
            "bucket",
            str(bucket_dir or ""),
            asked=bucket,
            flag="--bucket",
            remove=lambda: bucket_dir is not None and removal.remove_tree(bucket_dir),
        )
    )
    for name in (settings.repository, settings.ui_repository):
        repository_dir = registry_root / name
        rows.append(
            removal.optional(
                "image repository",
                str(repository_dir),
                asked=repository,
                flag="--repository",
                remove=functools.partial(removal.remove_tree, repository_dir, up_to=registry_root),
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
                rows.append(report.Row("TFJob replica", name, removal.STOPPED))
        pids_file.unlink()
    return rows
