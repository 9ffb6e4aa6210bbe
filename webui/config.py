"""The web UI's settings: defaults, and the checks that turn a bad `WEBUI_*` value into a clear error.

`create_app` layers them as the Flask tutorial does: these defaults, then `WEBUI_*` environment
variables (`app.config.from_prefixed_env`, which reads numbers as JSON), then a test mapping.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from webui import errors

DEFAULTS: dict[str, Any] = {
    # The serving Service that manifests/serving.yaml creates (`${app_name}-serving`, port 8501
    # named http) as the UI's pod sees it in its own namespace.
    "MODEL_SERVER_URL": "http://mnist-serving:8501",
    "MODEL_NAME": "mnist",
    # A one-image predict takes milliseconds; 5 s without an answer means a stuck server, and a
    # user waiting longer than that for the page would rather see the banner.
    "REQUEST_TIMEOUT_S": 5.0,
    # The .npz (x_test, y_test) that notebook 06 writes: a local path or an s3://bucket/key URI.
    "DATA_PATH": "",
    # Loopback unless told otherwise (the manifest sets 0.0.0.0 inside the pod).
    "HOST": "127.0.0.1",
    "PORT": 8080,
    # Bootstrap's CSS from the bootstrap-flask wheel, never a CDN: the page works offline.
    "BOOTSTRAP_SERVE_LOCAL": True,
    # A 280x280 canvas PNG is tens of kB; refuse bodies far beyond any real drawing.
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
}

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check(config: MutableMapping[str, Any]) -> None:
    """Normalise the UI's settings in place (types, trailing slash); raises ConfigError naming a bad one."""
    url = str(config["MODEL_SERVER_URL"]).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise errors.ConfigError("MODEL_SERVER_URL", url, "must be an http:// or https:// URL")
    config["MODEL_SERVER_URL"] = url
    name = str(config["MODEL_NAME"])
    if not _MODEL_NAME.match(name):
        raise errors.ConfigError("MODEL_NAME", name, "must be a model name of letters, digits, '_', '.', '-'")
    config["MODEL_NAME"] = name
    config["REQUEST_TIMEOUT_S"] = _number("REQUEST_TIMEOUT_S", config["REQUEST_TIMEOUT_S"], low=0.0, high=None)
    config["PORT"] = int(_number("PORT", config["PORT"], low=0.0, high=65535.0, whole=True))
    config["DATA_PATH"] = str(config["DATA_PATH"])
    config["HOST"] = str(config["HOST"])
    # Never the debugger, whatever the environment says: it runs code sent by any visitor.
    config["DEBUG"] = False


def _number(parameter: str, value: object, *, low: float, high: float | None, whole: bool = False) -> float:
    """`value` as a number in (low, high]; raises ConfigError."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise errors.ConfigError(parameter, value, "must be a number") from e
    if not (number > low and (high is None or number <= high)) or (whole and not number.is_integer()):
        kind = "a whole number" if whole else "a number"
        limit = f" and at most {high:g}" if high is not None else ""
        raise errors.ConfigError(parameter, value, f"must be {kind} above {low:g}{limit}")
    return number
