"""The series on each Kubeflow release's RBAC, on the real API server as the profile's default-editor.

The real-server counterpart of tests/rbac.py's proof: the server's own SelfSubjectAccessReview answers agree
with the rules data for every verb and kind the series uses; and what the notebooks do (the routes decision,
discovery, deploying the UI, serving and TensorBoard through the kubeflow backend, the TFJob and the build Job)
followed by `make clean`'s kubeflow path leaves nothing labelled behind and names what it kept. The kubelet,
Kubeflow's tensorboard controller and the pvc-protection controller are played by the admin (`controllers`).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from controlplane import cluster, profile
from helpers import backends, cleanup, removal, routes, settings as settings_module, tensorboard, workloads
from helpers.cluster import _kinds, access, apply, cleanup as cluster_cleanup, wait
from tests import rbac

from . import controllers

LABEL = cluster_cleanup.PART_OF_SELECTOR
# The verbs the series and its clean-up use, on every kind they touch.
VERBS = ("get", "list", "create", "patch", "delete")
LOGDIR = "s3://mnist-bucket/runs/mnist-train/r1"


def _may_route(release: str, namespace: str) -> bool:
    return all(
        rbac.may(release, verb, "networking.istio.io", "virtualservices", namespace=namespace)
        for verb in ("create", "patch")
    )


def _labelled_left(control_plane: cluster.Cluster, namespace: str) -> list[str]:
    """Every object of the series' kinds still labelled part of the series, as the admin sees it."""
    left = []
    for name in cluster_cleanup.CLUSTER_KINDS:
        kind = _kinds.by_name(name)
        path = kind.path(namespace=namespace) + f"?labelSelector={LABEL}"
        for item in control_plane.request("GET", path).get("items") or []:
            if not item["metadata"].get("deletionTimestamp"):
                left.append(f"{name}/{item['metadata']['name']}")
    return left


@pytest.mark.parametrize("kubeflow_profile", rbac.RELEASES, indirect=True)
def test_the_series_and_its_clean_up_on_each_release(
    control_plane: cluster.Cluster,
    kubeflow_profile: profile.Profile,
    editor_api: Any,
    editor_settings: settings_module.Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    release, namespace = kubeflow_profile.release, kubeflow_profile.namespace
    # The rules data of tests/rbac.py against the real authorizer: every verb on every kind the series uses.
    disagreements = []
    for name in sorted(set(cluster_cleanup.CLUSTER_KINDS) | {"Pod", "ServiceAccount"}):
        kind = _kinds.by_name(name)
        for verb in VERBS:
            expected = rbac.may(release, verb, kind.group, kind.plural, namespace=namespace)
            if access.may(verb, kind, api=editor_api, settings=editor_settings) != expected:
                disagreements.append(f"{verb} {kind.resource}: rules data says {expected}")
    assert not disagreements
    pod = _kinds.by_name("Pod")
    assert access.may("get", pod, api=editor_api, settings=editor_settings, subresource="log")
    assert not access.may("get", pod, api=editor_api, settings=editor_settings, namespace="kube-system")

    # The notebooks' cluster steps, through the backend as the notebook server runs it (KUBECONFIG, no host).
    monkeypatch.setenv("KUBECONFIG", str(kubeflow_profile.editor_kubeconfig))
    role = "arn:aws:iam::123456789012:role/mnist-pods"
    settings = editor_settings.model_copy(update={"bucket": "mnist-bucket", "role_arn": role})
    backend = backends.get(settings=settings)
    # 01's step: the pods' own ServiceAccount, IRSA-annotated (without it no pod of the series is admitted).
    assert backend.grant_access().status_of("ServiceAccount") == "applied"
    assert backend.serves("tensorboard.kubeflow.org/v1alpha1")
    assert not backend.serves("serving.kserve.io/v1beta1")
    job = workloads.tfjob(
        settings=settings,
        image="registry/train:1",
        run_id="r1",
        num_workers=2,
        num_ps=1,
        train_steps=10,
        batch_size=8,
        learning_rate=0.01,
    )
    build = workloads.build_job(
        settings=settings,
        tag="abc123",
        dockerfile="model/Dockerfile",
        context_uri="s3://mnist-bucket/c.tar.gz",
        image="123456789012.dkr.ecr.us-west-2.amazonaws.com/kubeflow-mnist/train:abc123",
        builder_image="executor:1",
    )
    apply.apply([*build, job], api=editor_api, settings=settings)
    ui = workloads.ui(settings=settings, ui_image="registry/ui:1")
    with controllers.Playing(control_plane, namespace), caplog.at_level(logging.WARNING):
        # Every pod the series makes passes the namespace's Pod Security level (baseline from 1.10 on).
        wait.wait_for_job("mnist-build-abc123", api=editor_api, settings=settings, interval_s=0.05)
        serving_urls = backend.deploy(workloads.serving(settings=settings))
        plan = tensorboard.plan(backend, settings=settings, logdir_uri=LOGDIR)
        board_urls = backend.deploy(plan.resources)
        ui_urls = backend.deploy(ui)
    assert serving_urls == {"mnist-serving": f"http://mnist-serving.{namespace}.svc.cluster.local:8501"}
    assert plan.kubeflow_resource
    assert tensorboard.url(board_urls, settings=settings, plan=plan) == (
        f"http://mnist-tensorboard.{namespace}.svc.cluster.local:80/"
    )
    shown = routes.ways_in(ui, backend=backend, page_url=ui_urls["mnist-ui"] + "/")
    route_path = f"/apis/networking.istio.io/v1/namespaces/{namespace}/virtualservices/mnist-ui"
    if _may_route(release, namespace):
        assert backend.routes == {"mnist-ui": "applied"}  # type: ignore[attr-defined]
        assert f"/mnist/{namespace}/ui/" in shown
    else:
        assert backend.routes == {"mnist-ui": "not allowed"}  # type: ignore[attr-defined]
        assert f"kubectl -n {namespace} port-forward svc/mnist-ui 8080:80" in shown
        (warning,) = [record.getMessage() for record in caplog.records if "VirtualService" in record.getMessage()]
        assert f"from this notebook server: http://mnist-ui.{namespace}.svc.cluster.local:80/" in warning
        assert "then open http://localhost:8080/" in warning
        assert "kind: VirtualService" in warning and f"prefix: /mnist/{namespace}/ui/" in warning
        # An administrator applies the YAML the warning holds; the profile may not delete it afterwards.
        (route,) = routes.split(ui)[1]
        control_plane.request(
            "PATCH",
            route_path + "?fieldManager=administrator",
            body={**route, "metadata": {**route["metadata"], "namespace": namespace}},
            content_type="application/apply-patch+yaml",
        )
    # Re-running every cell changes nothing and is allowed (the Tensorboard is kept, never patched).
    with controllers.Playing(control_plane, namespace):
        backend.deploy(plan.resources)
        backend.deploy(ui)
    before = _labelled_left(control_plane, namespace)
    assert {
        "TFJob/mnist-train",
        "Job/mnist-build-abc123",
        "Tensorboard/mnist-tensorboard",
        "Deployment/mnist-ui",
        "PersistentVolumeClaim/mnist-tensorboard-logs",
        "VirtualService/mnist-ui",
    } <= set(before)

    # 06's clean-up cell: the UI goes; an administrator's route stays where the profile may not delete it.
    may_delete_routes = rbac.may(release, "delete", "networking.istio.io", "virtualservices", namespace=namespace)
    with controllers.Playing(control_plane, namespace):
        backend.undeploy(ui)
    left = _labelled_left(control_plane, namespace)
    assert "Deployment/mnist-ui" not in left and "Service/mnist-ui" not in left
    assert ("VirtualService/mnist-ui" in left) is not may_delete_routes

    # `make clean` as default-editor: the same login, the series' label, the PVC's finalizer lifted by its controller.
    with controllers.Playing(control_plane, namespace):
        done = cleanup.clean_up(settings=settings)
    left = _labelled_left(control_plane, namespace)
    kept = [row.name for row in done.rows if row.status == removal.KEPT and row.item == "VirtualService"]
    if may_delete_routes:
        assert left == [] and kept == []
    else:
        assert left == ["VirtualService/mnist-ui"]
        assert kept == ["mnist-ui (this ServiceAccount may not delete them; an administrator can)"]
    assert not [row for row in done.rows if row.status == removal.SKIPPED]
    again = cleanup.clean_up(settings=settings)
    assert again.status_of("cluster objects") == removal.GONE
