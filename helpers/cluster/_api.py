"""Send one request to the API server: the single place that retries and translates errors.

Every action module describes its request as a `Call` and sends it here. Only named transient
failures are retried, with a backoff taken from the settings that doubles up to a bound, and
each retry is logged; everything else becomes a ClusterError at once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from helpers import errors, settings as settings_module
from helpers.cluster import _kinds, _translate

logger = logging.getLogger(__name__)

# Connect and read limits of one request: an API server answers in milliseconds, and a request
# that hangs this long is better reported than waited on (waits poll in short requests).
REQUEST_TIMEOUT_S = (10.0, 60.0)
# Upper bound of the wait between attempts, so doubling never sleeps for minutes.
MAX_BACKOFF_S = 30.0

_METHODS = {"get": "GET", "list": "GET", "create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE"}

Query = Sequence[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class Call:
    """One request as messages and RBAC see it: the verb, the path, the object and its namespace."""

    verb: str
    path: str
    action: str
    """Words for messages: "apply", "read logs of", "log in to"."""
    target: str
    """The object or collection, for messages: `TFJob/mnist in namespace ns`."""
    rbac_resource: str
    """The resource as RBAC names it, e.g. `tfjobs.kubeflow.org` or `pods/log`."""
    namespace: str = ""

    def __post_init__(self) -> None:
        if self.verb not in _METHODS:
            raise ValueError(f"verb {self.verb!r} is not one of {sorted(_METHODS)}")

    @property
    def method(self) -> str:
        """The HTTP method of this call."""
        return _METHODS[self.verb]


def on(
    kind: _kinds.Kind,
    verb: str,
    *,
    namespace: str,
    name: str | None = None,
    subresource: str | None = None,
    action: str = "",
) -> Call:
    """The call that does `verb` on a collection of `kind`, or on object `name` (and its subresource)."""
    what = f"{kind.kind}/{name}" if name else kind.resource
    return Call(
        verb=verb,
        path=kind.path(namespace=namespace, name=name, subresource=subresource),
        action=action or verb,
        target=f"{what} in namespace {namespace}",
        rbac_resource=f"{kind.resource}/{subresource}" if subresource else kind.resource,
        namespace=namespace,
    )


def request(
    api: Any,
    call: Call,
    *,
    settings: settings_module.Settings,
    query: Query = (),
    body: dict[str, Any] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """Send `call` and return the JSON object the server answered; raises ClusterError."""
    data = _send(api, call, settings=settings, query=query, body=body, content_type=content_type)
    try:
        answer = json.loads(data)
    except ValueError as e:
        raise errors.ClusterError(call.action, call.target, f"the answer is not JSON: {data[:200]!r}") from e
    if not isinstance(answer, dict):
        raise errors.ClusterError(call.action, call.target, f"the answer is not a JSON object: {data[:200]!r}")
    return answer


def request_text(api: Any, call: Call, *, settings: settings_module.Settings, query: Query = ()) -> str:
    """Send `call` and return the answer as text (pod logs); raises ClusterError."""
    # Raw bytes on purpose: the client's own decoding turns a log that happens to be JSON into a Python repr.
    return _send(api, call, settings=settings, query=query, body=None, content_type="application/json").decode(
        "utf-8", errors="replace"
    )


def _send(
    api: Any,
    call: Call,
    *,
    settings: settings_module.Settings,
    query: Query,
    body: dict[str, Any] | None,
    content_type: str,
) -> bytes:
    host = str(api.configuration.host)
    attempt = 0
    while True:
        attempt += 1
        try:
            return _send_once(api, call, host=host, query=query, body=body, content_type=content_type)
        except _translate.CLIENT_ERRORS as e:
            if attempt >= settings.api_retries or not _translate.is_transient(e):
                raise _translate.translate(e, call=call, host=host, attempts=attempt) from e
            delay_s = min(settings.api_backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)
            logger.warning(
                "%s %s: %s; attempt %d of %d, retrying in %.2f s",
                call.action,
                call.target,
                _describe(e),
                attempt,
                settings.api_retries,
                delay_s,
            )
            time.sleep(delay_s)


def _send_once(
    api: Any, call: Call, *, host: str, query: Query, body: dict[str, Any] | None, content_type: str
) -> bytes:
    headers = {**api.default_headers, "Accept": "application/json", "Content-Type": content_type}
    params = list(query)
    # Asked on every attempt: it refreshes short-lived tokens (EKS's exec plugin) when they expire.
    api.update_params_for_auth(headers, params, ["BearerToken"])
    response = api.rest_client.request(
        call.method,
        host + call.path,
        query_params=params,
        headers=headers,
        body=body,
        _preload_content=False,
        _request_timeout=REQUEST_TIMEOUT_S,
    )
    try:
        return bytes(response.data)
    finally:
        response.release_conn()


def _describe(error: Exception) -> str:
    status = getattr(error, "status", None)
    return f"HTTP {status}" if status else type(error).__name__
