"""The registry of local Services: which loopback port stands behind each Service port.

On a cluster `mnist-serving.ns.svc:8501` is resolved by DNS and kube-proxy; locally a
JSON file under `<state_dir>/local/` maps each running Service to its loopback ports, so a
later notebook (another kernel) can rewrite the same names to `127.0.0.1:<port>`.
"""

from __future__ import annotations

import json
import pathlib
from typing import TypedDict

from helpers import errors, files, settings as settings_module

REGISTRY_FILE = "services.json"


class LocalService(TypedDict):
    """One Service: its namespace, owner (the Deployment or job that serves it) and port map."""

    namespace: str
    owner: str
    ports: dict[str, int]


def local_dir(settings: settings_module.Settings) -> pathlib.Path:
    """The folder where the local backend keeps its jobs, deployments and registry."""
    return settings.state_dir / "local"


def _path(settings: settings_module.Settings) -> pathlib.Path:
    return local_dir(settings) / REGISTRY_FILE


def read(settings: settings_module.Settings) -> dict[str, LocalService]:
    """Every registered Service by name; empty when none is. Raises ConfigError for a corrupt file."""
    path = _path(settings)
    if not path.exists():
        return {}
    try:
        content: dict[str, LocalService] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise errors.ConfigError("state_dir", str(settings.state_dir), f"{path} is unreadable ({e}); delete it") from e
    return content


def _write(settings: settings_module.Settings, content: dict[str, LocalService]) -> None:
    files.write_json(_path(settings), content, sort_keys=True)


def register(
    *, settings: settings_module.Settings, name: str, namespace: str, owner: str, ports: dict[int, int]
) -> None:
    """Record that Service `name` port P is served on 127.0.0.1:`ports[P]`."""
    content = read(settings)
    content[name] = {"namespace": namespace, "owner": owner, "ports": {str(k): v for k, v in ports.items()}}
    _write(settings, content)


def remove_owned(*, settings: settings_module.Settings, owner: str) -> None:
    """Forget every Service that `owner` registered (nothing happens when there is none)."""
    content = read(settings)
    kept = {name: service for name, service in content.items() if service["owner"] != owner}
    if kept != content:
        _write(settings, kept)
