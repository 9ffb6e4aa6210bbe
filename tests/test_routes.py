"""helpers.routes: a VirtualService's prefix and destination, the way in without it, and the administrator's YAML."""

from __future__ import annotations

import pytest
import yaml

from helpers import backends, routes, settings as settings_module, workloads


@pytest.fixture
def ui_resources(settings: settings_module.Settings) -> list[dict]:
    return workloads.ui(settings=settings.model_copy(update={"bucket": "b"}), ui_image="registry/ui:1")


def test_split_keeps_the_order_and_separates_the_routes(ui_resources: list[dict]) -> None:
    workloads_, found = routes.split(ui_resources)
    assert [resource["kind"] for resource in workloads_] == ["Deployment", "Service"]
    assert [resource["kind"] for resource in found] == ["VirtualService"]


def test_the_route_of_the_ui_rewrites_its_prefix_away(ui_resources: list[dict]) -> None:
    route = routes.route_of(routes.split(ui_resources)[1][0], namespace="ignored")
    assert route == routes.Route(
        name="mnist-ui",
        namespace="kubeflow-user-example-com",
        prefix="/mnist/kubeflow-user-example-com/ui/",
        service="mnist-ui",
        port=80,
        service_path="/",
    )
    assert routes.port_forward(route) == (
        "kubectl -n kubeflow-user-example-com port-forward svc/mnist-ui 8080:80  # then open http://localhost:8080/"
    )


def test_the_message_holds_yaml_an_administrator_can_apply_as_is(ui_resources: list[dict]) -> None:
    virtual_service = routes.split(ui_resources)[1][0]
    message = routes.not_allowed_message(virtual_service, namespace="ns", in_cluster_url="http://mnist-ui.ns:80/")
    assert "from this notebook server: http://mnist-ui.ns:80/" in message
    assert yaml.safe_load(message.split("applying:\n", 1)[1]) == virtual_service


def test_a_route_without_a_prefix_rule_is_refused() -> None:
    bare = {"kind": "VirtualService", "metadata": {"name": "x"}, "spec": {"http": [{"route": []}]}}
    with pytest.raises(ValueError, match="no prefix route"):
        routes.route_of(bare, namespace="ns")


def test_off_cluster_the_url_is_the_way_in(settings: settings_module.Settings, ui_resources: list[dict]) -> None:
    backend = backends.get(settings=settings)
    assert routes.ways_in(ui_resources, backend=backend, page_url="http://127.0.0.1:1/") == "Here: http://127.0.0.1:1/"
