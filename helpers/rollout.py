"""Model versions in the export folder, and watching TensorFlow Serving move to a new one.

TensorFlow Serving serves the highest numbered folder under its base path and picks up a
new one without a restart; 05 shows that by publishing a second version.
"""

from __future__ import annotations

import pathlib
import time

from helpers import errors
from helpers.aws import s3
from helpers.backends import base
from helpers.serving import client as serving_client

# Seconds between status polls while waiting for the server to switch versions.
POLL_S = 1.0


def versions(export_dir: pathlib.Path) -> list[int]:
    """The complete numbered version folders (their upload's marker is there) under a local copy of the
    export folder, lowest first: a half-uploaded version is neither served nor copied."""
    if not export_dir.is_dir():
        return []
    return sorted(
        int(path.name)
        for path in export_dir.iterdir()
        if path.is_dir() and path.name.isdigit() and s3.is_complete(path)
    )


def latest_version(*, backend: base.Backend, export_uri: str) -> int:
    """The highest version under `export_uri`; raises ConfigError when there is none (03 not run)."""
    found = versions(backend.fetch(export_uri))
    if not found:
        raise errors.ConfigError("export", export_uri, "holds no complete numbered model version: run 03_train first")
    return found[-1]


def publish_copy(*, backend: base.Backend, export_uri: str) -> int:
    """Publish the latest version again under the next number, as a retrained model would arrive;
    returns the new version."""
    current = latest_version(backend=backend, export_uri=export_uri)
    new = current + 1
    backend.copy_tree(f"{export_uri}/{current}", f"{export_uri}/{new}")
    return new


def wait_for_version(client: serving_client.ServingClient, version: int, *, timeout_s: float) -> str:
    """Poll the model status until `version` is the newest AVAILABLE one; returns it as the server
    spells it. Raises WaitTimeout naming the states last seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = client.status()
        available = [entry["version"] for entry in states if entry["state"] == "AVAILABLE"]
        if available and max(int(v) for v in available) == version:
            return str(version)
        if time.monotonic() >= deadline:
            seen = ", ".join(f"{entry['version']}: {entry['state']}" for entry in states) or "no versions"
            raise errors.WaitTimeout(f"model version {version} to be served", timeout_s, last_state=seen)
        time.sleep(POLL_S)
