"""The node's stand-in for the `s3-sync` sidecar (`aws s3 sync` in a loop), with boto3.

Usage: `python -m helpers.local.node.s3sync [--mirror] s3://bucket/prefix TARGET_DIR`.

With `--mirror` it is plain `aws s3 sync` (TensorBoard's sidecar: new and grown event files).
Without, like the serving manifest's shell loop, it copies each new top-level folder (a model
version) into a hidden staging folder and, once the copy holds the version's completion marker and
every file it lists (an upload still under way does not), renames it into place in one step, so a
server polling TARGET_DIR never loads a half copy. S3 is whatever boto3 reaches (AWS_ENDPOINT_URL
points it at moto on the test cluster).
"""

from __future__ import annotations

import logging
import pathlib
import shutil
import sys
import time
from typing import TYPE_CHECKING

import boto3
import botocore.exceptions

from helpers import errors
from helpers.aws import s3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

# The manifest's loop sleeps 30 s; the stand-in looks more often so a test sees a new version sooner.
INTERVAL_S = 5.0


def sync_once(source: str, target: pathlib.Path, *, client: S3Client) -> list[str]:
    """Copy the complete version folders of `source` that `target` lacks; returns the versions added.

    A version whose upload has not finished (no marker yet, or files it lists missing) is left for a
    later round.
    """
    bucket, key = s3.parse_uri(source)
    prefix = key.rstrip("/") + "/" if key else ""
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/")
    versions = [entry["Prefix"][len(prefix) :].rstrip("/") for entry in listing.get("CommonPrefixes", [])]
    added = []
    for version in sorted(versions):
        final = target / version
        if not version or version.startswith(".") or final.exists():
            continue
        staging = target / f".{version}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        s3.download_tree(f"{s3.SCHEME}{bucket}/{prefix}{version}/", staging, client=client)
        if not s3.is_complete(staging):
            shutil.rmtree(staging, ignore_errors=True)
            continue
        staging.rename(final)
        added.append(version)
    return added


def main(argv: list[str]) -> int:
    """Sync forever (until SIGTERM ends the process); returns 2 for bad arguments."""
    mirror = argv[:1] == ["--mirror"]
    argv = argv[1:] if mirror else argv
    if len(argv) != 2 or not argv[0].startswith("s3://"):
        print("usage: python -m helpers.local.node.s3sync [--mirror] s3://bucket/prefix TARGET_DIR", file=sys.stderr)
        return 2
    source, target = argv[0], pathlib.Path(argv[1])
    target.mkdir(parents=True, exist_ok=True)
    client = boto3.client("s3")
    while True:
        try:
            if mirror:
                s3.download_tree(source, target, client=client, only_changed=True)
            else:
                for version in sync_once(source, target, client=client):
                    print(f"new model version {version}", flush=True)
        except (errors.HelpersError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as e:
            # A sidecar logs and tries again on its next round, as the manifest's shell loop does.
            print(f"sync failed, retrying: {e}", flush=True)
        time.sleep(INTERVAL_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
