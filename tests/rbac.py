"""What a Kubeflow profile's `default-editor` may do, per release, and which recorded requests it may not make.

The rules are `kubeflow-edit` as shipped by kubeflow/manifests (controlplane/kubeflow-rbac/), which
the profile controller binds to `default-editor` in the profile namespace. The contract tests
record every request the kubeflow backend sends to the API server stand-in; `denials` maps each
one to an RBAC verb and resource, the way the API server does, and names those a release refuses.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

RBAC_DIR = pathlib.Path(__file__).resolve().parent.parent / "controlplane" / "kubeflow-rbac"
RELEASES = ("v1.9.1", "v1.10.2", "v1.11.0", "26.03")
ROLE = "kubeflow-edit"

# Granted to every authenticated user by the built-in ClusterRoles system:basic-user
# (self reviews) and system:discovery / system:public-info-viewer (these non-resource paths).
EVERYONE_MAY_CREATE = frozenset(
    {
        ("authorization.k8s.io", "selfsubjectaccessreviews"),
        ("authorization.k8s.io", "selfsubjectrulesreviews"),
        ("authentication.k8s.io", "selfsubjectreviews"),
    }
)
_DISCOVERY = re.compile(r"^/(version|api|apis|api/v1|apis/[^/]+|apis/[^/]+/[^/]+|openapi/.*)/?$")
_NAMESPACED = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/namespaces/(?P<namespace>[^/]+)/(?P<resource>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<subresource>[^/]+))?$"
)
_CLUSTER = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<subresource>[^/]+))?$"
)


@dataclasses.dataclass(frozen=True)
class Attributes:
    """A request as the API server's authorizer sees it."""

    verb: str
    group: str
    """"" for the core group."""
    resource: str
    subresource: str
    namespace: str
    """"" for a cluster-scoped request."""

    @property
    def rule_key(self) -> str:
        """The key of `allows` in the rule files: `<group or core>/<resource>[/<subresource>]`."""
        key = f"{self.group or 'core'}/{self.resource}"
        return f"{key}/{self.subresource}" if self.subresource else key

    def __str__(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster-scoped)"
        return f"{self.verb} {self.rule_key}{where}"


@functools.cache
def rules(release: str, *, role: str = ROLE) -> Mapping[str, frozenset[str]]:
    """`<group or core>/<resource>[/<sub>]` -> the verbs `role` allows in `release`; KeyError for another release."""
    if release not in RELEASES:
        raise KeyError(f"no rules for release {release!r}; known: {RELEASES}")
    loaded = yaml.safe_load((RBAC_DIR / f"{release}.yaml").read_text())
    allows = loaded["roles"][role]["allows"]
    return {key: frozenset(verbs) for key, verbs in allows.items()}


def allows(release: str, attributes: Attributes) -> bool:
    """True when `kubeflow-edit` of `release` (bound in the profile namespace) allows the request."""
    if attributes.verb == "create" and (attributes.group, attributes.resource) in EVERYONE_MAY_CREATE:
        return True
    if not attributes.namespace:
        # A RoleBinding grants nothing outside its namespace: cluster-scoped requests are refused.
        return False
    group = attributes.group or "core"
    resource = f"{attributes.resource}/{attributes.subresource}" if attributes.subresource else attributes.resource
    for key in (f"{group}/{resource}", f"{group}/*"):
        verbs = rules(release).get(key, frozenset())
        if attributes.verb in verbs or "*" in verbs:
            return True
    return False


def may(release: str, verb: str, group: str, resource: str, *, namespace: str, subresource: str = "") -> bool:
    """Shorthand for `allows` with the attributes spelt out: "may default-editor do VERB on GROUP/RESOURCE[/SUB]"."""
    return allows(release, Attributes(verb, group, resource, subresource, namespace))


def attributes_of(method: str, path: str, query: Mapping[str, str] | None = None) -> Attributes | None:
    """The authorizer's view of an HTTP request; None for the discovery paths every user may read.

    Raises ValueError for a path that is neither a resource request nor a discovery path.
    """
    path = path.rstrip("/") or "/"
    match = _NAMESPACED.match(path) or _CLUSTER.match(path)
    if match is None:
        if _DISCOVERY.match(path):
            return None
        raise ValueError(f"{method} {path} is not a Kubernetes API path")
    group = match["group"] or ""
    name, subresource = match["name"] or "", match["subresource"] or ""
    namespace = match.groupdict().get("namespace") or ""
    if match.re is _CLUSTER and match["resource"] == "namespaces" and name:
        # GET /api/v1/namespaces/<ns> is authorized as a request in that namespace.
        namespace = name
    if method == "GET":
        verb = "get" if name else ("watch" if (query or {}).get("watch") in ("1", "true") else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]
    return Attributes(verb, group, match["resource"], subresource, namespace)


def denials(
    requests: Iterable[Mapping[str, Any]],
    *,
    namespace: str,
    releases: Iterable[str] = RELEASES,
    granted: Iterable[Attributes] = (),
) -> list[str]:
    """One line per recorded request that `default-editor` in `namespace` may not make, naming the releases.

    `requests` are the fake API server's records (`method`, `path`, `query`); a request to another
    namespace is always a denial. A request in `granted` was asked about first with a
    SelfSubjectAccessReview that said yes: code that asks before it acts does not make it where the
    answer is no, so it is no violation.
    """
    granted_set = set(granted)
    releases = tuple(releases)
    found: dict[str, None] = {}
    for request in requests:
        attributes = attributes_of(request["method"], request["path"], request.get("query"))
        if attributes is None or attributes in granted_set:
            continue
        what = f"{request['method']} {request['path']} ({attributes})"
        if attributes.namespace and attributes.namespace != namespace:
            found[f"{what}: outside the profile namespace {namespace}"] = None
            continue
        refused = [release for release in releases if not allows(release, attributes)]
        if refused:
            found[f"{what}: denied in Kubeflow {', '.join(refused)}"] = None
    return list(found)
