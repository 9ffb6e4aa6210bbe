"""Turn `kubernetes` and `urllib3` exceptions into `helpers.errors.ClusterError`.

The client library must not leak out of `helpers` (style rule 9): a notebook cell should show
one line that names the refused action, the object and what to do, and callers catch one type.
This module also decides which failures are worth another attempt.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import urllib3
from kubernetes.client import exceptions as client_exceptions

from helpers import errors

if TYPE_CHECKING:
    from helpers.cluster import _api

# Throttling and server-side failures that a later attempt may not meet; nothing else is retried.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

# Errors that `_api` catches at the boundary and hands to `translate`.
CLIENT_ERRORS = (client_exceptions.ApiException, urllib3.exceptions.HTTPError)


# Server-side apply of an object that does not fit its CRD's schema (a field it does not declare, a
# string where a number belongs): the API server answers 500 (seen on kube-apiserver 1.37), but the
# request is wrong, not the server, and another attempt fails alike.
UNDECLARED_FIELD = "failed to create typed patch object"


def is_transient(error: Exception) -> bool:
    """True for a named transient failure: HTTP 429/500/502/503/504 or a connection reset mid-request.

    A 500 that says the applied object does not fit its schema is not transient.
    """
    if isinstance(error, client_exceptions.ApiException):
        return error.status in TRANSIENT_STATUSES and UNDECLARED_FIELD not in _server_message(error)
    # urllib3 raises ProtocolError when the peer resets or drops a connection it had accepted.
    return isinstance(error, urllib3.exceptions.ProtocolError)


def translate(error: Exception, *, call: _api.Call, host: str, attempts: int) -> errors.ClusterError:
    """The ClusterError that describes `error` for `call`; the caller raises it `from error`."""
    if not isinstance(error, client_exceptions.ApiException):
        message = f"cannot reach the API server at {host}: {error}"
        return errors.ClusterError(call.action, call.target, _with_attempts(message, attempts))
    status = error.status or None
    said = _server_message(error)
    if status is None:
        message = f"no HTTP answer from {host}: {said}"
    elif status == 401:
        message = f"the API server refused the credentials; renew them (e.g. `aws eks update-kubeconfig`). {said}"
    elif status == 403:
        where, flag = (f" in namespace {call.namespace}", f" -n {call.namespace}") if call.namespace else ("", "")
        message = (
            f"forbidden: cannot {call.verb} {call.rbac_resource}{where}; ask an administrator for a Role that"
            f" grants it (check: kubectl auth can-i {call.verb} {call.rbac_resource}{flag}). Server said: {said}"
        )
    elif status == 404:
        message = f"not found: {said}"
    elif status == 409:
        message = f"conflict: {said}"
    elif status == 422:
        message = f"the API server rejected the object as invalid: {said}"
    elif status == 500 and UNDECLARED_FIELD in said:
        message = f"the object does not fit its schema (a misspelt field or a wrong type?): {said}"
    else:
        message = said
    return errors.ClusterError(call.action, call.target, _with_attempts(message, attempts), status=status)


def _server_message(error: client_exceptions.ApiException) -> str:
    """The `message` of the Status object the server sent, else the HTTP reason phrase."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(error.reason or "no reason given")


def _with_attempts(message: str, attempts: int) -> str:
    return f"{message} (gave up after {attempts} attempts)" if attempts > 1 else message
