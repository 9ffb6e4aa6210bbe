"""TensorBoard helpers: which way it runs, the page URL, the sync pod, clear errors when it does not answer.

A real `tensorboard` is started and asked for its runs by notebook 04 under nbval; the cluster
ways (Kubeflow's Tensorboard resource or our Deployment) are tested in tests/backends/test_kubeflow_routes.py.
"""

from __future__ import annotations

import socket

import pytest

from helpers import backends, errors, manifests, settings as settings_module, tensorboard, workloads


def test_url_is_the_service_url_under_the_prefix(settings: settings_module.Settings) -> None:
    urls = {"mnist-tensorboard": "http://127.0.0.1:4242"}
    assert tensorboard.url(urls, settings=settings) == (
        "http://127.0.0.1:4242/mnist/kubeflow-user-example-com/tensorboard/"
    )
    with pytest.raises(errors.ConfigError, match="mnist-tensorboard"):
        tensorboard.url({}, settings=settings)


def test_runs_names_a_tensorboard_that_does_not_answer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(errors.ProcessFailed, match=f"TensorBoard at http://127.0.0.1:{port}/"):
        tensorboard.runs(f"http://127.0.0.1:{port}/")


def test_the_local_backend_runs_our_own_deployment_without_asking_a_cluster(settings: settings_module.Settings) -> None:
    local = settings.model_copy(update={"bucket": "mnist-local"})
    plan = tensorboard.plan(backends.get(settings=local), settings=local, logdir_uri="s3://mnist-local/runs/r")
    assert not plan.kubeflow_resource
    assert [resource["kind"] for resource in plan.resources] == ["Deployment", "Service", "VirtualService"]
    assert "No Kubeflow Tensorboard API here" in plan.description
    urls = {"mnist-tensorboard": "http://127.0.0.1:4242"}
    page = tensorboard.url(urls, settings=local, plan=plan)
    assert page == "http://127.0.0.1:4242/mnist/kubeflow-user-example-com/tensorboard/"
    assert tensorboard.ways_in(plan, backend=backends.get(settings=local), page_url=page) == f"Here: {page}"
    with pytest.raises(ValueError, match="not in the bucket"):
        tensorboard.plan(backends.get(settings=local), settings=local, logdir_uri="s3://elsewhere/runs/r")


def test_the_sync_deployment_needs_the_s3_sync_container(settings: settings_module.Settings) -> None:
    rendered = workloads.tensorboard(
        settings=settings.model_copy(update={"bucket": "b"}), logdir_uri="s3://b/runs/mnist-train"
    )
    sync = tensorboard.sync_deployment(rendered)
    assert sync["metadata"]["name"] == "mnist-tensorboard-sync"
    assert sync["spec"]["selector"]["matchLabels"] == {"app": "mnist-tensorboard-sync"}
    assert sync["spec"]["template"]["metadata"]["labels"]["app"] == "mnist-tensorboard-sync"
    deployment = manifests.find(rendered, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"] = deployment["spec"]["template"]["spec"]["containers"][:1]
    with pytest.raises(errors.ConfigError, match="s3-sync"):
        tensorboard.sync_deployment(rendered)
