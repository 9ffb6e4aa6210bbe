"""Ask the API server whether this identity may do something, before trying it.

A SelfSubjectAccessReview (authorization.k8s.io/v1) is the server's own answer to
`kubectl auth can-i`, and every authenticated user may create one. Optional steps (a gateway
route, clean-up of a kind the profile cannot list) ask first and skip with a clear message,
instead of failing half way on a 403.
"""

from __future__ import annotations

import logging
from typing import Any

from helpers import settings as settings_module
from helpers.cluster import _api, _kinds

logger = logging.getLogger(__name__)

REVIEWS_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def may(
    verb: str,
    kind: _kinds.Kind,
    *,
    api: Any,
    settings: settings_module.Settings,
    namespace: str | None = None,
    subresource: str = "",
) -> bool:
    """True when the server says this identity may `verb` (get, list, create, patch, delete, …) `kind`.

    Asked in `namespace` (default `settings.namespace`). Raises ClusterError when the server
    cannot answer.
    """
    namespace = namespace or settings.namespace
    attributes = {"namespace": namespace, "verb": verb, "group": kind.group, "resource": kind.plural}
    if subresource:
        attributes["subresource"] = subresource
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    call = _api.Call(
        verb="create",
        path=REVIEWS_PATH,
        action="ask whether this identity may " + verb,
        target=f"{kind.resource} in namespace {namespace}",
        rbac_resource="selfsubjectaccessreviews.authorization.k8s.io",
    )
    answer = _api.request(api, call, settings=settings, body=body)
    status = answer.get("status") or {}
    allowed = bool(status.get("allowed")) and not status.get("denied")
    logger.info("may %s %s in %s: %s", verb, kind.resource, namespace, "yes" if allowed else "no")
    return allowed
