"""Gateway routes (Istio VirtualServices): what to tell a user whose profile may not create them.

Kubeflow 1.10 and later keep `networking.istio.io` read-only for a profile's `default-editor`, so
the route under `/mnist/<namespace>/…/` on the Kubeflow gateway is optional: the notebook applies
it where the server says it may, and otherwise explains the ways in that need no route, with the
YAML an administrator can apply.
"""

from __future__ import annotations

import dataclasses
import json

import yaml

from helpers import manifests
from helpers.backends import base

KIND = "VirtualService"
# The local port `kubectl port-forward` listens on in the message; any free port works.
LOCAL_PORT = 8080


@dataclasses.dataclass(frozen=True)
class Route:
    """One gateway route: its path prefix and the Service it leads to."""

    name: str
    namespace: str
    prefix: str
    """The path on the gateway, e.g. `/mnist/<namespace>/ui/`."""
    service: str
    port: int
    service_path: str
    """The path the Service serves that page at: "/" when the route rewrites the prefix away."""


def split(resources: list[manifests.Resource]) -> tuple[list[manifests.Resource], list[manifests.Resource]]:
    """The resources without their routes, and the routes (VirtualServices), each in their order."""
    return (
        [resource for resource in resources if resource.get("kind") != KIND],
        [resource for resource in resources if resource.get("kind") == KIND],
    )


def route_of(virtual_service: manifests.Resource, *, namespace: str) -> Route:
    """The prefix and destination of a VirtualService's (last) prefix rule; raises ValueError when it has none."""
    metadata = virtual_service["metadata"]
    for rule in reversed(virtual_service["spec"].get("http") or []):
        prefixes = [match["uri"]["prefix"] for match in rule.get("match") or [] if "prefix" in match.get("uri", {})]
        if prefixes and rule.get("route"):
            destination = rule["route"][0]["destination"]
            return Route(
                name=metadata["name"],
                namespace=metadata.get("namespace") or namespace,
                prefix=prefixes[0],
                service=destination["host"].split(".")[0],
                port=int(destination["port"]["number"]),
                service_path=(rule.get("rewrite") or {}).get("uri") or prefixes[0],
            )
    raise ValueError(f"VirtualService {metadata['name']} has no prefix route to a destination")


def port_forward(route: Route) -> str:
    """The command that reaches the page from your own machine without any route, and the URL to open."""
    return (
        f"kubectl -n {route.namespace} port-forward svc/{route.service} {LOCAL_PORT}:{route.port}"
        f"  # then open http://localhost:{LOCAL_PORT}{route.service_path}"
    )


def not_allowed_message(virtual_service: manifests.Resource, *, namespace: str, in_cluster_url: str = "") -> str:
    """What to tell a user whose ServiceAccount may not create this route: the ways in, and the YAML."""
    route = route_of(virtual_service, namespace=namespace)
    lines = [
        f"Not applying the VirtualService {route.name}: this ServiceAccount may not create VirtualServices in"
        f" {route.namespace} (Kubeflow 1.10 and later keep networking.istio.io read-only for profiles).",
        "Ways in without it:",
    ]
    if in_cluster_url:
        lines.append(f"  - from this notebook server: {in_cluster_url}")
    lines += [
        f"  - from your machine: {port_forward(route)}",
        f"An administrator can publish {route.prefix} on the Kubeflow gateway by applying:",
        "",
        yaml.safe_dump(
            json.loads(json.dumps(virtual_service)), sort_keys=False, default_flow_style=False, width=120
        ).rstrip(),
    ]
    return "\n".join(lines)


def ways_in(resources: list[manifests.Resource], *, backend: base.Backend, page_url: str) -> str:
    """Where to open the page after `backend.deploy(resources)`: its URL here, then the gateway path or a way around it.

    The kubeflow backend records in `routes` whether it applied each VirtualService; off-cluster
    there is no gateway, and the URL is the way in.
    """
    lines = [f"Here: {page_url}"]
    for virtual_service in split(resources)[1]:
        route = route_of(virtual_service, namespace=backend.settings.namespace)
        done = getattr(backend, "routes", {}).get(route.name)
        if done == "applied":
            lines.append(f"Through the Kubeflow gateway: https://<your Kubeflow host>{route.prefix}")
        elif done is not None:  # a cluster decided against the route
            lines.append(f"No gateway route (see the warning above). From your machine: {port_forward(route)}")
    return "\n".join(lines)
