"""The kubeflow backend's routes where the cluster lacks Kubeflow's Tensorboard API: our own Deployment runs
TensorBoard, its VirtualService only where the profile may create it (the API server stand-in, as each release).

Only this case stays on the stand-in: the control plane in tests/controlplane serves the Tensorboard CRD to every
test, and a group cannot be unserved for one. The UI's route, TensorBoard through Kubeflow's resource and the
route an administrator applied outliving undeploy run there on each release (test_releases.py).
"""

from __future__ import annotations

import pytest

from helpers import backends, settings as settings_module, tensorboard
from tests import rbac
from tests.cluster import fake_api as fake_api_module
from tests.cluster.objects import NAMESPACE

pytestmark = pytest.mark.usefixtures("kube_config", "pods_account")

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
