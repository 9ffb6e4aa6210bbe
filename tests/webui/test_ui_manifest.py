"""manifests/ui.yaml: valid Kubernetes and Istio objects that run `python -m webui` behind the prefix."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import manifests, workloads
from tests import validation
from webui import config

VALUES = {
    "namespace": "team-a",
    "service_account": "default-editor",
    "ui_image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/kubeflow-mnist/ui:0.1.0",
    "model_name": "mnist",
    "test_data_uri": "s3://mnist-bucket/data/mnist-test.npz",
    "region": "us-west-2",
}


@pytest.fixture
def resources() -> list[manifests.Resource]:
    """manifests/ui.yaml rendered for app "mnist" in namespace team-a."""
    return manifests.render("ui", {**VALUES, "app_name": "mnist"}, app_name="mnist")


def container(resources: list[manifests.Resource]) -> dict[str, Any]:
    """The UI container of the Deployment."""
    deployment = manifests.find(resources, "Deployment", "mnist-ui")
    (ui,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(ui)


def test_objects_validate_against_kubernetes_and_istio_schemas(resources: list[manifests.Resource]) -> None:
    assert sorted(resource["kind"] for resource in resources) == ["Deployment", "Service", "VirtualService"]
    validation.validate_all(resources)


def test_container_runs_the_waitress_entry_point_with_the_serving_service(resources: list[manifests.Resource]) -> None:
    ui = container(resources)
    assert ui["image"] == VALUES["ui_image"]
    assert ui["command"] == ["python", "-m", "webui"]
    env = {item["name"]: item["value"] for item in ui["env"]}
    assert env["WEBUI_MODEL_SERVER_URL"] == "http://mnist-serving.team-a.svc.cluster.local:8501"
    assert env["WEBUI_DATA_PATH"] == VALUES["test_data_uri"]
    assert env["WEBUI_HOST"] == "0.0.0.0" and env["WEBUI_PORT"] == "8080"
    assert ui["ports"] == [{"name": "http", "containerPort": 8080}]


def test_probes_use_liveness_endpoint_so_the_banner_stays_reachable(resources: list[manifests.Resource]) -> None:
    ui = container(resources)
    assert ui["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert ui["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_pod_runs_as_non_root_without_privilege_escalation(resources: list[manifests.Resource]) -> None:
    pod = manifests.find(resources, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container(resources)["securityContext"]["allowPrivilegeEscalation"] is False
    assert set(container(resources)["resources"]) == {"requests", "limits"}


def test_service_and_route_reach_the_pods_under_the_prefix(resources: list[manifests.Resource]) -> None:
    service = manifests.find(resources, "Service", "mnist-ui")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert service["spec"]["selector"] == {"app": "mnist-ui"}
    route = manifests.find(resources, "VirtualService", "mnist-ui")["spec"]
    assert route["gateways"] == ["kubeflow/kubeflow-gateway"]
    redirect, proxied = route["http"]
    assert redirect["redirect"]["uri"] == "/mnist/team-a/ui/"
    assert proxied["match"] == [{"uri": {"prefix": "/mnist/team-a/ui/"}}]
    assert proxied["rewrite"] == {"uri": "/"}
    assert proxied["route"][0]["destination"] == {
        "host": "mnist-ui.team-a.svc.cluster.local",
        "port": {"number": 80},
    }


def test_ui_calls_the_serving_service_by_name_and_port(resources: list[manifests.Resource]) -> None:
    values = {
        **VALUES,
        "app_name": "mnist",
        "bucket": "mnist-bucket",
        "model_server_image": workloads.MODEL_SERVER_IMAGE,
    }
    serving = manifests.render("serving", values, app_name="mnist")
    service = manifests.find(serving, "Service", "mnist-serving")
    (rest_port,) = [port for port in service["spec"]["ports"] if port["port"] == 8501]
    assert rest_port["name"].startswith("http")  # Istio picks the protocol from the name's prefix
    env = {item["name"]: item["value"] for item in container(resources)["env"]}
    namespace = service["metadata"]["namespace"]
    assert env["WEBUI_MODEL_SERVER_URL"] == f"http://mnist-serving.{namespace}.svc.cluster.local:8501"
    assert config.DEFAULTS["MODEL_SERVER_URL"] == "http://mnist-serving:8501"
    assert (
        f"--model_name={env['WEBUI_MODEL_NAME']}"
        in manifests.find(serving, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    )
