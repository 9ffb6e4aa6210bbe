"""A small, stateful Kubernetes API server stand-in on 127.0.0.1, for contract tests.

Real HTTP, spoken to by the real `kubernetes` client: objects are stored per API group/version,
plural, namespace and name, with server-assigned uid, resourceVersion and generation. It serves
GET, LIST (with equality label selectors), POST, PUT, PATCH (JSON merge and server-side apply),
DELETE (foreground deletion can linger), pod logs, /version, API group discovery and
SelfSubjectAccessReviews, answering errors with Status objects. Tests script what a controller
would do (status changes), deny verbs with 403 (one by one, or as a Kubeflow release's
`kubeflow-edit` would) and inject transient failures. kmock's emulator was tried first: it assigns no uid or
resourceVersion, ignores label selectors and answers PUT with 404, which these tests need.

Whatever a real API server can serve runs on one (tests/controlplane, as the profile's default-editor); this
stand-in is kept for what a real server cannot be made to do on demand: injected failures and dropped
connections, no server-side apply, scripted sequences of states, container logs without a kubelet, and
clusters without an API group the control plane serves to every test.
"""

from __future__ import annotations

import collections
import copy
import datetime
import http.server
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from typing import Any

import yaml

from tests import rbac

_PATH = re.compile(
    r"^/(?P<group_version>api/v1|apis/[^/]+/[^/]+)/namespaces/(?P<namespace>[^/]+)/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<subresource>[^/]+))?$"
)
# Cluster-scoped objects (a ClusterTrainingRuntime) are stored under the namespace "".
_CLUSTER_PATH = re.compile(r"^/(?P<group_version>api/v1|apis/[^/]+/[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$")
OPENAPI_PREFIX = "/openapi/v3/apis/"
_GROUP_VERSION = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/?$")
# The resources discovery lists for a group version (GET /apis/<group>/<version>); kubeflow.org/v1 also
# serves Kubeflow's own notebooks and profiles, so only `tfjobs` says the training operator is there.
KUBEFLOW_RESOURCES = {"kubeflow.org/v1": ["notebooks", "profiles", "tfjobs"]}
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_GROUP = re.compile(r"^/apis/(?P<group>[^/]+)/?$")
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
# The API groups a Kubeflow cluster serves (beyond core), with their versions, for discovery.
KUBEFLOW_GROUPS = {
    "apps": ["v1"],
    "batch": ["v1"],
    "authorization.k8s.io": ["v1"],
    "kubeflow.org": ["v1"],
    "networking.istio.io": ["v1", "v1beta1", "v1alpha3"],
    "security.istio.io": ["v1", "v1beta1"],
    "tensorboard.kubeflow.org": ["v1alpha1"],
}
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCHES = ("application/merge-patch+json", "application/strategic-merge-patch+json")

Key = tuple[str, str, str, str]  # group/version path, plural, namespace, name


class FakeApiServer:
    """An in-memory API server on a free loopback port; use it as a context manager."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.supports_apply = True
        self.deletion_delay_s = 0.0
        self._lock = threading.RLock()
        self._version = 0
        self._denied: set[tuple[str, str]] = set()
        self.release: str | None = None
        """When set, refuse what `kubeflow-edit` of this Kubeflow release refuses (tests/rbac.py)."""
        self.groups: dict[str, list[str]] = copy.deepcopy(KUBEFLOW_GROUPS)
        """The API groups discovery answers for: group -> versions, preferred first."""
        self.unserved: set[str] = set()
        """API groups this cluster lacks: discovery and every request to them answer 404 (see `unserve`)."""
        self.resources: dict[str, list[str]] = copy.deepcopy(KUBEFLOW_RESOURCES)
        """What discovery lists per group version ("kubeflow.org/v1" -> ["tfjobs", ...]); see `serve`."""
        self.openapi: dict[str, dict[str, Any]] = {}
        """OpenAPI v3 documents by group version (GET /openapi/v3/apis/<group>/<version>); 404 for others."""
        self.granted: list[rbac.Attributes] = []
        """The SelfSubjectAccessReviews answered "allowed", as the authorizer's attributes."""
        self._failures: collections.deque[int | str] = collections.deque()
        self._scripts: dict[Key, collections.deque[dict[str, Any]]] = {}
        self._logs: dict[tuple[str, str, str], str] = {}
        self._delete_at: dict[Key, float] = {}
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:40123."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # What tests script: a controller's status updates, RBAC, failures, container output.

    def deny(self, verb: str, resource: str) -> None:
        """Answer `verb` on `resource` (a plural such as "tfjobs" or "pods/log") with 403."""
        self._denied.add((verb, resource))

    def as_release(self, release: str) -> None:
        """Authorize as Kubeflow `release` does for `default-editor`: 403 for what `kubeflow-edit` refuses."""
        rbac.rules(release)
        self.release = release

    def unserve(self, group: str) -> None:
        """Act as a cluster without `group` (its CRD not installed): discovery and requests answer 404."""
        self.groups.pop(group, None)
        self.unserved.add(group)

    def serve(self, group: str, version: str, resources: list[str]) -> None:
        """Act as a cluster that serves `resources` (plurals) in `group`/`version`, and only those there."""
        self.unserved.discard(group)
        versions = self.groups.setdefault(group, [])
        if version not in versions:
            versions.append(version)
        self.resources[f"{group}/{version}"] = list(resources)

    def fail_next(self, *answers: int | str) -> None:
        """Answer the next requests with these HTTP statuses, or "reset" to drop the connection."""
        self._failures.extend(answers)

    def script_status(
        self, group_version: str, plural: str, namespace: str, name: str, *statuses: dict[str, Any]
    ) -> None:
        """Set the object's status to the next of `statuses` each time it is read by name."""
        self._scripts[(group_version, plural, namespace, name)] = collections.deque(statuses)

    def set_logs(self, namespace: str, pod: str, container: str, text: str) -> None:
        """What the container `container` of `pod` has written."""
        self._logs[(namespace, pod, container)] = text

    def add(self, group_version: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store an object as a controller would have created it (pods, for instance)."""
        with self._lock:
            namespace = body["metadata"].get("namespace", "")  # "" for a cluster-scoped object
            return self._create((group_version, plural, namespace, body["metadata"]["name"]), body)

    def finish_deletion(self, group_version: str, plural: str, namespace: str, name: str) -> None:
        """Let a lingering (foreground) deletion finish now."""
        with self._lock:
            self._delete_at[(group_version, plural, namespace, name)] = 0.0
            self._collect()

    def get(self, group_version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object, or None."""
        with self._lock:
            self._collect()
            found = self.objects.get((group_version, plural, namespace, name))
            return copy.deepcopy(found) if found else None

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """The requests received (method, path, query, content_type, authorization, body), optionally of one method."""
        return [request for request in self.requests if method is None or request["method"] == method]

    # Serving.

    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> tuple[int, str, bytes] | None:
        """Answer one request: (status, content type, body), or None to drop the connection."""
        url = urllib.parse.urlsplit(raw_path)
        query = dict(urllib.parse.parse_qsl(url.query))
        content_type = headers.get("Content-Type", "")
        parsed = yaml.safe_load(body) if body else None
        self.requests.append(
            {
                "method": method,
                "path": url.path,
                "query": query,
                "content_type": content_type,
                "authorization": headers.get("Authorization"),
                "body": parsed,
            }
        )
        if self._failures:
            answer = self._failures.popleft()
            if answer == "reset":
                return None
            return _status(int(answer), "InternalError", f"injected failure {answer}")
        if method == "GET" and url.path == "/version":
            return _json(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake"})
        discovered = _GROUP.match(url.path) if method == "GET" else None
        if discovered:
            return self._group(discovered["group"])
        if method == "POST" and url.path == ACCESS_REVIEWS:
            return self._review(parsed)
        if method == "GET" and url.path.startswith(OPENAPI_PREFIX):
            document = self.openapi.get(url.path.removeprefix(OPENAPI_PREFIX))
            return _json(200, document) if document else _status(404, "NotFound", f"no OpenAPI document {url.path}")
        listed = _GROUP_VERSION.match(url.path) if method == "GET" else None
        if listed:
            return self._resources(listed["group"], listed["version"])
        match = _PATH.match(url.path) or _CLUSTER_PATH.match(url.path)
        if not match:
            return _status(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        if match["group_version"].split("/")[1] in self.unserved:
            return _status(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        key: Key = (
            match["group_version"],
            match["plural"],
            match.groupdict().get("namespace") or "",
            match["name"] or "",
        )
        subresource = match.groupdict().get("subresource")
        verb = _VERBS.get(method) or ("get" if key[3] else "list")
        resource = f"{key[1]}/{subresource}" if subresource else key[1]
        if not self._allowed(method, url.path, query, verb, resource):
            return _forbidden(verb, key, subresource)
        with self._lock:
            self._collect()
            return self._route(verb, key, subresource, query, content_type, parsed)

    def _allowed(self, method: str, path: str, query: dict[str, str], verb: str, resource: str) -> bool:
        """Whether the scripted denials and, when set, the release's rules let this request through."""
        if (verb, resource) in self._denied:
            return False
        if self.release is None:
            return True
        attributes = rbac.attributes_of(method, path, query)
        return attributes is None or rbac.allows(self.release, attributes)

    def _group(self, group: str) -> tuple[int, str, bytes]:
        """Discovery of one API group (GET /apis/<group>): its versions, or 404 when not served."""
        if group not in self.groups:
            return _status(404, "NotFound", "the server could not find the requested resource")
        versions = [{"groupVersion": f"{group}/{version}", "version": version} for version in self.groups[group]]
        body = {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions}
        return _json(200, {**body, "preferredVersion": versions[0]})

    def _resources(self, group: str, version: str) -> tuple[int, str, bytes]:
        """Discovery of one group version (GET /apis/<group>/<version>): its resources, or 404 when not served."""
        if version not in self.groups.get(group, []):
            return _status(404, "NotFound", "the server could not find the requested resource")
        resources = [{"name": plural, "namespaced": True} for plural in self.resources.get(f"{group}/{version}", [])]
        return _json(200, {"kind": "APIResourceList", "groupVersion": f"{group}/{version}", "resources": resources})

    def _review(self, body: dict[str, Any]) -> tuple[int, str, bytes]:
        """A SelfSubjectAccessReview: "allowed" as this stand-in would answer the request it describes."""
        asked = (body.get("spec") or {}).get("resourceAttributes") or {}
        attributes = rbac.Attributes(
            verb=asked.get("verb", ""),
            group=asked.get("group", ""),
            resource=asked.get("resource", ""),
            subresource=asked.get("subresource", ""),
            namespace=asked.get("namespace", ""),
        )
        plural = f"{attributes.resource}/{attributes.subresource}" if attributes.subresource else attributes.resource
        allowed = (attributes.verb, plural) not in self._denied and (
            self.release is None or rbac.allows(self.release, attributes)
        )
        if allowed:
            self.granted.append(attributes)
        review = {**body, "status": {"allowed": allowed}}
        if not allowed:
            review["status"]["reason"] = f"{attributes} is not allowed" + (
                f" in {self.release}" if self.release else ""
            )
        return _json(201, review)

    def _route(
        self, verb: str, key: Key, subresource: str | None, query: dict[str, str], content_type: str, body: Any
    ) -> tuple[int, str, bytes]:
        if subresource == "log":
            return self._log(key, query)
        if verb == "list":
            return self._list(key, query.get("labelSelector", ""))
        if verb == "create":
            if body["metadata"].get("namespace", key[2]) != key[2]:
                return _status(400, "BadRequest", "the namespace of the object does not match the request")
            key = (key[0], key[1], key[2], body["metadata"]["name"])
            if key in self.objects:
                return _status(409, "AlreadyExists", f'{key[1]} "{key[3]}" already exists')
            return _json(201, self._create(key, body))
        if verb == "patch" and content_type == APPLY_PATCH:
            return self._apply(key, query, body)
        if key not in self.objects:
            return _status(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        if verb == "get":
            script = self._scripts.get(key)
            if script:
                self._store(key, {**self.objects[key], "status": script.popleft()})
            return _json(200, self.objects[key])
        if verb == "delete":
            return self._delete(key, body or {})
        if subresource == "status":
            update = body.get("status") if verb == "update" else _merge(self.objects[key].get("status"), body["status"])
            return _json(200, self._store(key, {**self.objects[key], "status": update}))
        if verb == "update":
            sent_version = body["metadata"].get("resourceVersion")
            if sent_version and sent_version != self.objects[key]["metadata"]["resourceVersion"]:
                return _status(409, "Conflict", "the object has been modified; please apply your changes again")
            return _json(200, self._replace(key, body))
        if content_type not in MERGE_PATCHES:
            return _status(415, "UnsupportedMediaType", f"patch type {content_type} is not supported here")
        return _json(200, self._replace(key, _merge(self.objects[key], body)))

    def _apply(self, key: Key, query: dict[str, str], body: dict[str, Any]) -> tuple[int, str, bytes]:
        """Server-side apply, simplified to one field manager: the applied object is the whole intent."""
        if not self.supports_apply:
            return _status(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
        if not query.get("fieldManager"):
            return _status(400, "BadRequest", "PatchOptions.meta.k8s.io is invalid: fieldManager is required")
        body = copy.deepcopy(body)
        body["metadata"]["managedFields"] = [{"manager": query["fieldManager"], "operation": "Apply"}]
        if key not in self.objects:
            return _json(201, self._create(key, body))
        return _json(200, self._replace(key, body))

    def _create(self, key: Key, body: dict[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(body)
        stored["metadata"].update(
            namespace=key[2],
            uid=str(uuid.uuid4()),
            generation=1,
            creationTimestamp=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        return self._store(key, stored)

    def _replace(self, key: Key, body: dict[str, Any]) -> dict[str, Any]:
        """Replace all but the server's metadata and the status (which only /status changes)."""
        current = self.objects[key]
        stored = copy.deepcopy(body)
        kept = {field: current["metadata"][field] for field in ("uid", "creationTimestamp", "generation", "namespace")}
        stored["metadata"].update(kept)
        if "status" in current:
            stored["status"] = current["status"]
        else:
            stored.pop("status", None)
        if _spec(stored) != _spec(current):
            stored["metadata"]["generation"] += 1
        return self._store(key, stored)

    def _store(self, key: Key, stored: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        stored = copy.deepcopy(stored)
        stored["metadata"]["resourceVersion"] = str(self._version)
        self.objects[key] = stored
        return stored

    def _delete(self, key: Key, options: dict[str, Any]) -> tuple[int, str, bytes]:
        found = self.objects[key]
        if options.get("propagationPolicy") == "Foreground" and self.deletion_delay_s > 0:
            if key not in self._delete_at:
                self._delete_at[key] = time.monotonic() + self.deletion_delay_s
                metadata = {
                    **found["metadata"],
                    "deletionTimestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "finalizers": ["foregroundDeletion"],
                }
                found = self._store(key, {**found, "metadata": metadata})
            return _json(200, found)
        del self.objects[key]
        return _json(200, found)

    def _collect(self) -> None:
        """Remove the objects whose foreground deletion has finished."""
        now = time.monotonic()
        for key, when in list(self._delete_at.items()):
            if when <= now:
                self.objects.pop(key, None)
                del self._delete_at[key]

    def _list(self, key: Key, selector: str) -> tuple[int, str, bytes]:
        try:
            matches = _selector(selector)
        except ValueError as e:
            return _status(400, "BadRequest", f"unable to parse requirement: {e}")
        items = [
            found
            for (group_version, plural, namespace, _), found in sorted(self.objects.items())
            if (group_version, plural, namespace) == key[:3] and matches(found["metadata"].get("labels") or {})
        ]
        return _json(200, {"kind": "List", "metadata": {"resourceVersion": str(self._version)}, "items": items})

    def _log(self, key: Key, query: dict[str, str]) -> tuple[int, str, bytes]:
        pod = self.objects.get(key)
        if pod is None:
            return _status(404, "NotFound", f'pods "{key[3]}" not found')
        containers = [container["name"] for container in pod["spec"]["containers"]]
        container = query.get("container")
        if container is None and len(containers) > 1:
            return _status(
                400, "BadRequest", f"a container name must be specified for pod {key[3]}, choose one of: {containers}"
            )
        container = container or containers[0]
        if container not in containers:
            return _status(400, "BadRequest", f"container {container} is not valid for pod {key[3]}")
        lines = self._logs.get((key[2], key[3], container), "").splitlines(keepends=True)
        if "tailLines" in query:
            lines = lines[len(lines) - int(query["tailLines"]) :] if int(query["tailLines"]) else []
        return 200, "text/plain", "".join(lines).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without this, Nagle and delayed ACKs add ~40 ms to each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = self.server.fake.handle(self.command, self.path, self.headers, body)  # type: ignore[attr-defined]
        if answer is None:
            # A reset: close at once with SO_LINGER 0, so the client sees the connection dropped mid-request.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        status, content_type, payload = answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `FakeApiServer.requests` instead."""


def _json(status: int, body: dict[str, Any]) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body).encode()


def _status(code: int, reason: str, message: str) -> tuple[int, str, bytes]:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return _json(code, {**body, "message": message, "reason": reason, "code": code})


def _forbidden(verb: str, key: Key, subresource: str | None) -> tuple[int, str, bytes]:
    group = key[0].split("/")[1] if key[0].startswith("apis/") else ""
    resource = f"{key[1]}.{group}" if group else key[1]
    who = f"system:serviceaccount:{key[2]}:default-editor"
    plural = f"{key[1]}/{subresource}" if subresource else key[1]
    message = (
        f'{resource} "{key[3]}" is forbidden: User "{who}" cannot {verb} resource "{plural}"'
        f' in API group "{group}" in the namespace "{key[2]}"'
    )
    return _status(403, "Forbidden", message)


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: mappings merge, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for field, value in patch.items():
        if value is None:
            merged.pop(field, None)
        else:
            merged[field] = _merge(merged.get(field), value)
    return merged


def _spec(found: dict[str, Any]) -> dict[str, Any]:
    """What a change to bumps the generation: everything but metadata and status."""
    return {field: value for field, value in found.items() if field not in ("metadata", "status")}


def _selector(text: str) -> Any:
    """A predicate on labels for an equality-based selector (`a=b,c!=d,e,!f`); ValueError for set-based ones."""
    terms = [term.strip() for term in text.split(",") if term.strip()]
    checks = []
    for term in terms:
        if "(" in term or " in " in term:
            raise ValueError(f"set-based requirement {term!r} is not supported by this stand-in")
        if "!=" in term:
            name, value = term.split("!=", 1)
            checks.append(lambda labels, n=name, v=value: labels.get(n) != v)
        elif "=" in term:
            name, value = term.replace("==", "=").split("=", 1)
            checks.append(lambda labels, n=name, v=value: labels.get(n) == v)
        elif term.startswith("!"):
            checks.append(lambda labels, n=term[1:]: n not in labels)
        else:
            checks.append(lambda labels, n=term: n in labels)
    return lambda labels: all(check(labels) for check in checks)
