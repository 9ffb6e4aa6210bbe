"""Talk to the control plane as its admin: one HTTPS request, and kubeconfig files for its users.

The standard library is enough for the few calls the tooling makes (readiness, token requests,
server-side applies of CRDs and roles); the notebook's own calls go through helpers.cluster.
"""

from __future__ import annotations

import base64
import json
import pathlib
import ssl
import urllib.error
import urllib.request
from typing import Any

import yaml

from controlplane import errors


def request(
    method: str,
    url: str,
    *,
    token: str,
    ca_file: pathlib.Path,
    body: dict[str, Any] | None = None,
    content_type: str = "application/json",
    accept: str = "application/json",
    raw: bool = False,
) -> dict[str, Any]:
    """One HTTPS request with a bearer token; raises ControlPlaneError for an error status."""
    context = ssl.create_default_context(cafile=str(ca_file))
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", content_type)
    request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            content = answer.read()
    except urllib.error.HTTPError as e:
        raise errors.ControlPlaneError(f"{method} {url}: HTTP {e.code} {e.read()[:300]!r}") from e
    if raw:
        return {}
    result: dict[str, Any] = json.loads(content)
    return result


def write_kubeconfig(path: pathlib.Path, *, server_url: str, ca_file: pathlib.Path, user: str, token: str) -> None:
    """Write a kubeconfig (0600) that logs in to `server_url` as `user` with `token`."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "controlplane",
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": base64.b64encode(ca_file.read_bytes()).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "controlplane", "user": user}}],
        "current-context": user,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
