"""The kubeflow backend's routes on each Kubeflow release: TensorBoard through Kubeflow's resource or our own
Deployment, the UI's VirtualService only where the profile may create it, a way in and the YAML where not."""

from __future__ import annotations

import logging

import pytest

from helpers import backends, routes, settings as settings_module, tensorboard, workloads
from tests import rbac
from tests.cluster import fake_api as fake_api_module
from tests.cluster.objects import NAMESPACE

pytestmark = pytest.mark.usefixtures("kube_config")

ROLLED_OUT = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
VIRTUAL_SERVICES = "apis/networking.istio.io/v1"
LOGDIR = "s3://mnist-bucket/runs/mnist-train/r1"


@pytest.fixture
def settings(kubeflow_settings: settings_module.Settings) -> settings_module.Settings:
    return kubeflow_settings.model_copy(update={"bucket": "mnist-bucket"})


def _rolls_out(fake_api: fake_api_module.FakeApiServer, *names: str) -> None:
    for name in names:
        fake_api.script_status("apis/apps/v1", "deployments", NAMESPACE, name, {"replicas": 1}, ROLLED_OUT)


def _may_route(release: str) -> bool:
    return all(
        rbac.may(release, verb, "networking.istio.io", "virtualservices", namespace=NAMESPACE)
        for verb in ("create", "patch")
    )


@pytest.mark.parametrize("release", rbac.RELEASES)
def test_the_ui_route_is_applied_only_where_the_profile_may(
    settings: settings_module.Settings,
    fake_api: fake_api_module.FakeApiServer,
    caplog: pytest.LogCaptureFixture,
    release: str,
) -> None:
    fake_api.as_release(release)
    _rolls_out(fake_api, "mnist-ui")
    backend = backends.get(settings=settings)
    resources = workloads.ui(settings=settings, ui_image="registry/ui:1")
    with caplog.at_level(logging.WARNING):
        urls = backend.deploy(resources)
    page = urls["mnist-ui"] + "/"
    shown = routes.ways_in(resources, backend=backend, page_url=page)
    route = fake_api.get(VIRTUAL_SERVICES, "virtualservices", NAMESPACE, "mnist-ui")
    assert fake_api.get("apis/apps/v1", "deployments", NAMESPACE, "mnist-ui") is not None
    if _may_route(release):
        assert route is not None and backend.routes == {"mnist-ui": "applied"}  # type: ignore[attr-defined]
        assert f"Through the Kubeflow gateway: https://<your Kubeflow host>/mnist/{NAMESPACE}/ui/" in shown
        assert not caplog.records
    else:
        assert route is None and backend.routes == {"mnist-ui": "not allowed"}  # type: ignore[attr-defined]
        (warning,) = caplog.records
        text = warning.getMessage()
        assert f"from this notebook server: http://mnist-ui.{NAMESPACE}.svc.cluster.local:80/" in text
        assert f"kubectl -n {NAMESPACE} port-forward svc/mnist-ui 8080:80" in text
        assert "then open http://localhost:8080/" in text
        assert "kind: VirtualService" in text and f"prefix: /mnist/{NAMESPACE}/ui/" in text
        assert "port-forward svc/mnist-ui" in shown
    # No request was refused: the route was asked about first (the RBAC proof at teardown checks the rest).
    assert not [call for call in fake_api.calls("PATCH") if "virtualservices" in call["path"]] or _may_route(release)


@pytest.mark.parametrize("release", rbac.RELEASES)
def test_tensorboard_runs_through_kubeflows_resource_where_the_cluster_serves_it(
    settings: settings_module.Settings, fake_api: fake_api_module.FakeApiServer, release: str
) -> None:
    fake_api.as_release(release)
    # What Kubeflow's tensorboard controller makes for the resource: a Deployment of the same name.
    made = {"metadata": {"name": "mnist-tensorboard", "namespace": NAMESPACE}, "spec": {"replicas": 1}}
    fake_api.add("apis/apps/v1", "deployments", {**made, "status": ROLLED_OUT})
    _rolls_out(fake_api, "mnist-tensorboard-sync")
    backend = backends.get(settings=settings)
    plan = tensorboard.plan(backend, settings=settings, logdir_uri=LOGDIR)
    assert plan.kubeflow_resource
    assert [resource["kind"] for resource in plan.resources] == ["PersistentVolumeClaim", "Tensorboard", "Deployment"]
    urls = backend.deploy(plan.resources)
    page = tensorboard.url(urls, settings=settings, plan=plan)
    assert page == f"http://mnist-tensorboard.{NAMESPACE}.svc.cluster.local:80/"
    board = fake_api.get("apis/tensorboard.kubeflow.org/v1alpha1", "tensorboards", NAMESPACE, "mnist-tensorboard")
    assert board is not None and board["spec"]["logspath"] == "pvc://mnist-tensorboard-logs/"
    assert fake_api.get("api/v1", "persistentvolumeclaims", NAMESPACE, "mnist-tensorboard-logs") is not None
    shown = tensorboard.ways_in(plan, backend=backend, page_url=page)
    assert f"/tensorboard/{NAMESPACE}/mnist-tensorboard/" in shown
    # Re-running the cell keeps the resource (no patch: kubeflow-edit grants none on Tensorboards).
    backend.deploy(plan.resources)
    again = fake_api.get("apis/tensorboard.kubeflow.org/v1alpha1", "tensorboards", NAMESPACE, "mnist-tensorboard")
    assert again is not None and again["metadata"]["uid"] == board["metadata"]["uid"]


@pytest.mark.parametrize("release", ["v1.9.1", "26.03"])
def test_without_the_tensorboard_api_our_own_deployment_runs_it_and_the_route_is_optional(
    settings: settings_module.Settings, fake_api: fake_api_module.FakeApiServer, release: str
) -> None:
    fake_api.as_release(release)
    fake_api.unserve("tensorboard.kubeflow.org")
    _rolls_out(fake_api, "mnist-tensorboard")
    backend = backends.get(settings=settings)
    plan = tensorboard.plan(backend, settings=settings, logdir_uri=LOGDIR)
    assert not plan.kubeflow_resource
    assert [resource["kind"] for resource in plan.resources] == ["Deployment", "Service", "VirtualService"]
    urls = backend.deploy(plan.resources)
    page = tensorboard.url(urls, settings=settings, plan=plan)
    assert page == f"http://mnist-tensorboard.{NAMESPACE}.svc.cluster.local:80/mnist/{NAMESPACE}/tensorboard/"
    route = fake_api.get(VIRTUAL_SERVICES, "virtualservices", NAMESPACE, "mnist-tensorboard")
    assert (route is not None) == _may_route(release)
    shown = tensorboard.ways_in(plan, backend=backend, page_url=page)
    if not _may_route(release):
        assert f"then open http://localhost:8080/mnist/{NAMESPACE}/tensorboard/" in shown
    backend.undeploy(plan.resources)
    assert fake_api.get("apis/apps/v1", "deployments", NAMESPACE, "mnist-tensorboard") is None
    assert fake_api.get(VIRTUAL_SERVICES, "virtualservices", NAMESPACE, "mnist-tensorboard") is None


def test_undeploy_leaves_a_route_it_may_not_delete(
    settings: settings_module.Settings, fake_api: fake_api_module.FakeApiServer
) -> None:
    resources = workloads.ui(settings=settings, ui_image="registry/ui:1")
    # An administrator applied the route; this profile (Kubeflow 1.10 on) may not delete it.
    fake_api.add(VIRTUAL_SERVICES, "virtualservices", routes.split(resources)[1][0])
    fake_api.as_release("v1.10.2")
    backends.get(settings=settings).undeploy(resources)
    assert fake_api.get(VIRTUAL_SERVICES, "virtualservices", NAMESPACE, "mnist-ui") is not None
