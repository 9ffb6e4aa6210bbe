"""The Istio AuthorizationPolicy that lets the web UI reach the model server with both sidecars on.

Kubeflow profile namespaces deny pod-to-pod calls that no ALLOW policy matches; rendering
`manifests/mesh.yaml` from the settings grants exactly the UI's ServiceAccount (and Prometheus
on the metrics path) access to the serving pods.
"""

from __future__ import annotations

from helpers import manifests, settings as settings_module

TEMPLATE = "mesh"


def authorization_policy(*, settings: settings_module.Settings) -> list[manifests.Resource]:
    """The AuthorizationPolicy for the serving pods in the profile namespace, as a one-item list."""
    values = {
        "namespace": settings.namespace,
        "app_name": settings.app_name,
        "service_account": settings.service_account,
    }
    return manifests.render(TEMPLATE, values, app_name=settings.app_name)
