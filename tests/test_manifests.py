"""The manifest renderer: placeholders, labels, clear errors."""

from __future__ import annotations

import pathlib

import pytest

from helpers import errors, manifests


@pytest.fixture
def manifests_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "demo.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${app_name}-demo\n  namespace: ${namespace}\n"
        "spec:\n  replicas: ${replicas}\n  template:\n    metadata:\n      labels: {app: demo}\n"
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ${app_name}-demo\n  labels: {extra: kept}\n"
    )
    return folder


def test_render_fills_placeholders_and_labels_every_resource(manifests_dir: pathlib.Path) -> None:
    rendered = manifests.render(
        "demo", {"app_name": "mnist", "namespace": "ns", "replicas": 3}, app_name="mnist", manifests_dir=manifests_dir
    )
    deployment = manifests.find(rendered, "Deployment")
    assert deployment["metadata"]["name"] == "mnist-demo"
    assert deployment["spec"]["replicas"] == 3
    for resource in rendered:
        labels = resource["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "kubeflow-mnist"
        assert labels["app.kubernetes.io/component"] == "demo"
    assert deployment["spec"]["template"]["metadata"]["labels"]["app"] == "demo"
    assert deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "mnist"
    assert manifests.find(rendered, "Service")["metadata"]["labels"]["extra"] == "kept"


def test_a_yaml_alias_renders_as_its_own_copy(manifests_dir: pathlib.Path) -> None:
    (manifests_dir / "aliased.yaml").write_text(
        "kind: TFJob\nspec:\n  tfReplicaSpecs:\n    Chief:\n      template: &replica\n        spec:\n"
        "          containers: [{name: tensorflow, args: [--a]}]\n    Worker:\n      template: *replica\n"
        "    PS:\n      template:\n        <<: *replica\n        metadata: {annotations: {ps: 'yes'}}\n"
    )
    (rendered,) = manifests.render("aliased", {}, app_name="mnist", manifests_dir=manifests_dir)
    replicas = rendered["spec"]["tfReplicaSpecs"]
    replicas["Worker"]["template"]["spec"]["containers"][0]["args"].append("--worker-only")
    assert replicas["Chief"]["template"]["spec"]["containers"][0]["args"] == ["--a"], "no replica shares another's pod"
    assert replicas["PS"]["template"]["spec"]["containers"][0]["args"] == ["--a"]
    assert replicas["PS"]["template"]["metadata"]["annotations"] == {"ps": "yes"}


def test_missing_placeholder_is_named(manifests_dir: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        manifests.render(
            "demo", {"app_name": "mnist", "namespace": "ns"}, app_name="mnist", manifests_dir=manifests_dir
        )
    assert caught.value.parameter == "replicas"


def test_unknown_template_lists_known_ones(manifests_dir: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError, match="demo"):
        manifests.render("nope", {}, app_name="mnist", manifests_dir=manifests_dir)


def test_yaml_that_is_not_a_resource_is_refused(manifests_dir: pathlib.Path) -> None:
    (manifests_dir / "bad.yaml").write_text("- just\n- a list\n")
    with pytest.raises(errors.ConfigError, match="mapping with a 'kind'"):
        manifests.render("bad", {}, app_name="mnist", manifests_dir=manifests_dir)


def test_find_names_what_is_missing() -> None:
    with pytest.raises(errors.ConfigError, match="Service/x"):
        manifests.find([{"kind": "Deployment", "metadata": {"name": "x"}}], "Service", "x")


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        ([{"name": "grpc", "port": 8500}, {"name": "http-tf-serving", "port": 8501}], 8501),
        ([{"name": "web", "port": 80}], 80),
        ([{"port": 6006}, {"name": "http", "port": 80}], 80),
    ],
)
def test_http_port_prefers_a_port_named_http(ports: list[dict[str, object]], expected: int) -> None:
    assert manifests.http_port({"spec": {"ports": ports}})["port"] == expected
