"""The node's requests to the API server, as raw JSON: what a kubelet reads and writes.

The agent works on manifest-shaped dicts (the container translation reads camelCase keys), so every
call asks for the undecoded body (`_preload_content=False`). Merge patches replace lists whole,
which is what a status writer wants. 404 on a read means absent; 404/409 on a write mean the
object changed under us, and the next pass sees the new state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client import rest as k8s_rest

from helpers.local.node import podplan

MERGE_PATCH = "application/merge-patch+json"
# Answers to a write that mean "someone else changed or removed it first": not an error for a node.
RACES = (404, 409)


def _body(response: Any) -> Any:
    return json.loads(response.data)


class NodeApi:
    """Pods, Services, Secrets, ConfigMaps and the Node, read and written the way a kubelet does."""

    def __init__(self, api_client: Any) -> None:
        self.core = k8s_client.CoreV1Api(api_client)

    def pods(self) -> list[dict[str, Any]]:
        """Every pod in the cluster."""
        items: list[dict[str, Any]] = _body(self.core.list_pod_for_all_namespaces(_preload_content=False))["items"]
        return items

    def services(self) -> list[dict[str, Any]]:
        """Every Service in the cluster."""
        found = self.core.list_service_for_all_namespaces(_preload_content=False)
        items: list[dict[str, Any]] = _body(found)["items"]
        return items

    def _optional(self, reader: Callable[..., Any], namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = _body(reader(name, namespace, _preload_content=False))
            return found
        except k8s_rest.ApiException as e:
            if e.status == 404:
                return None
            raise

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's values, decoded; None when it does not exist."""
        found = self._optional(self.core.read_namespaced_secret, namespace, name)
        if found is None:
            return None
        decoded = podplan.decode_secret(found.get("data") or {}) or {}
        return {**decoded, **(found.get("stringData") or {})}

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's data; None when it does not exist."""
        found = self._optional(self.core.read_namespaced_config_map, namespace, name)
        return None if found is None else dict(found.get("data") or {})

    def bind(self, namespace: str, name: str, uid: str, *, node: str) -> bool:
        """Bind pod `namespace/name` to `node` (pods/binding); False when another binding won."""
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        try:
            self.core.create_namespaced_pod_binding(name, namespace, body, _preload_content=False)
            return True
        except k8s_rest.ApiException as e:
            if e.status not in RACES:
                raise
            return False

    def patch_pod_status(self, namespace: str, name: str, uid: str, status: dict[str, Any]) -> bool:
        """Write a pod's status (merge patch, pinned to `uid`); False when the pod changed or went."""
        try:
            self.core.patch_namespaced_pod_status(
                name, namespace, {"metadata": {"uid": uid}, "status": status},
                _content_type=MERGE_PATCH, _preload_content=False,
            )  # fmt: skip
            return True
        except k8s_rest.ApiException as e:
            if e.status not in (*RACES, 422):
                raise
            return False

    def delete_pod_now(self, namespace: str, name: str, uid: str) -> None:
        """Delete a stopped pod for good (grace 0); nothing happens when it is gone already."""
        try:
            # Grace 0 goes in the body: with a body, the API server ignores the query's gracePeriodSeconds.
            self.core.delete_namespaced_pod(
                name, namespace, body={"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}, _preload_content=False
            )
        except k8s_rest.ApiException as e:
            if e.status not in RACES:
                raise

    def register_node(self, body: dict[str, Any], *, lift_taint: Callable[[list[Any]], list[Any]]) -> None:
        """Create the Node (or keep the one there) and drop the taints `lift_taint` removes."""
        try:
            self.core.create_node(body, _preload_content=False)
        except k8s_rest.ApiException as e:
            if e.status != 409:
                raise
        name = body["metadata"]["name"]
        taints = _body(self.core.read_node(name, _preload_content=False)).get("spec", {}).get("taints")
        if taints and lift_taint(taints) != taints:
            patch = {"spec": {"taints": lift_taint(taints) or None}}
            self.core.patch_node(name, patch, _content_type=MERGE_PATCH, _preload_content=False)

    def patch_node_status(self, name: str, status: dict[str, Any]) -> None:
        """Write the Node's status (addresses, capacity, conditions with a fresh heartbeat)."""
        self.core.patch_node_status(name, {"status": status}, _content_type=MERGE_PATCH, _preload_content=False)
