"""manifests/serving.yaml: valid Kubernetes, and args the local server accepts unchanged."""

from __future__ import annotations

import pytest

from helpers import manifests
from tests import validation
from helpers.serving import metrics, server

VALUES = {
    "namespace": "kubeflow-user-example-com",
    "app_name": "mnist",
    "bucket": "example-bucket",
    "model_name": "mnist",
    "region": "us-west-2",
    "service_account": "default-editor",
}


@pytest.fixture(scope="module")
def resources() -> list[dict]:
    return manifests.render("serving", VALUES, app_name="mnist")


def test_every_resource_is_valid_kubernetes(resources) -> None:
    assert sorted(resource["kind"] for resource in resources) == ["ConfigMap", "Deployment", "Service"]
    validation.validate_all(resources)


def test_the_server_container_runs_tensorflow_model_server_with_flags_the_local_server_takes(resources) -> None:
    pod = manifests.find(resources, "Deployment", "mnist-serving")["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "tensorflow-serving")
    assert container["image"].startswith("tensorflow/serving:2.")
    assert container["command"] == ["tensorflow_model_server"]
    args = server.parse_args(container["args"])
    assert (args.port, args.rest_api_port, args.model_name) == (8500, 8501, "mnist")
    assert args.model_base_path == "/models/mnist"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/v1/models/mnist", "port": 8501}
    assert pod["securityContext"]["runAsNonRoot"] is True
    # The local backend recognises the copier by its name and the s3:// URI in its env.
    (sync,) = pod["initContainers"]
    assert (sync["name"], sync["restartPolicy"]) == ("s3-sync", "Always")
    assert {"name": "SOURCE", "value": "s3://example-bucket/models/mnist"} in sync["env"]
    assert "mv " in sync["args"][0] and "sleep 30" in sync["args"][0]
    mounts = {mount["name"]: mount["mountPath"] for mount in [*sync["volumeMounts"], *container["volumeMounts"]]}
    assert mounts["models"] == args.model_base_path


def test_the_monitoring_config_and_service_agree(resources) -> None:
    config = manifests.find(resources, "ConfigMap", "mnist-serving-config")["data"]["monitoring.config"]
    parsed = metrics.parse_monitoring_config(config)
    assert parsed.enable
    service = manifests.find(resources, "Service", "mnist-serving")
    assert sorted(port["port"] for port in service["spec"]["ports"]) == [8500, 8501]
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8501"
    assert annotations["prometheus.io/path"] == parsed.path
