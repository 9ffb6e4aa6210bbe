"""The kubeflow backend's cluster steps on the real API server as default-editor, AWS under moto.

Moved from tests/backends/test_kubeflow.py: 01's credentials for the pods (the Secret, or the IRSA-annotated
ServiceAccount), 02's build Job (the real job controller, `controllers.Playing` as the kubelet; its log is empty,
or gone with its node), 03's TFJob (the admin plays the training operator through the status subresource) and
05/06's deploy and undeploy (the real deployment controller). The chief's log lines stay on the stand-in: a
real API server serves container output only from a kubelet.
"""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from controlplane import cluster, errors as controlplane_errors, profile
from helpers import backends, errors, image, settings as settings_module, state, workloads
from tests.aws import conftest as aws_fixtures
from tests.aws.conftest import ACCESS_KEY, SECRET_KEY

from . import controllers

aws_environment = aws_fixtures.aws_environment
mocked_aws = aws_fixtures.mocked_aws

TFJOBS = "/apis/kubeflow.org/v1/namespaces/{namespace}/tfjobs"


@pytest.fixture
def settings(
    kubeflow_profile: profile.Profile,
    editor_settings: settings_module.Settings,
    mocked_aws: None,
    monkeypatch: pytest.MonkeyPatch,
) -> settings_module.Settings:
    """Kubeflow-backend settings logging in as default-editor the way the notebook does (KUBECONFIG)."""
    monkeypatch.setenv("KUBECONFIG", str(kubeflow_profile.editor_kubeconfig))
    return editor_settings.model_copy(update={"bucket": "mnist-bucket", "region": "us-west-2"})


def _get(control_plane: cluster.Cluster, path: str) -> dict[str, Any] | None:
    try:
        return control_plane.request("GET", path)
    except controlplane_errors.ControlPlaneError as e:
        if "HTTP 404" in str(e):
            return None
        raise


def test_secret_is_applied_idempotently_and_never_shown(
    control_plane: cluster.Cluster, settings: settings_module.Settings
) -> None:
    backend = backends.get(settings=settings)
    for _ in range(2):
        shown = backend.grant_access()
        assert SECRET_KEY not in str(shown) and ACCESS_KEY not in shown._repr_html_()
    stored = _get(control_plane, f"/api/v1/namespaces/{settings.namespace}/secrets/aws-secret")
    assert stored is not None and {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(stored["data"])
    account = _get(control_plane, f"/api/v1/namespaces/{settings.namespace}/serviceaccounts/mnist-workloads")
    assert account is not None and "eks.amazonaws.com/role-arn" not in (account["metadata"].get("annotations") or {})


def test_irsa_annotates_the_service_account_instead_and_removes_earlier_keys(
    control_plane: cluster.Cluster, settings: settings_module.Settings
) -> None:
    backends.get(settings=settings).grant_access()  # an earlier run of 01 without a role: long-lived keys
    role = "arn:aws:iam::123456789012:role/mnist-pods"
    shown = backends.get(settings=settings.model_copy(update={"role_arn": role})).grant_access()
    assert role in str(shown) and shown.status_of("Secret") == "deleted"
    account = _get(control_plane, f"/api/v1/namespaces/{settings.namespace}/serviceaccounts/mnist-workloads")
    assert account is not None and account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role
    assert _get(control_plane, f"/api/v1/namespaces/{settings.namespace}/secrets/aws-secret") is None


class _Operator:
    """The training operator's part: once the (fresh) TFJob exists, write its status."""

    def __init__(self, control_plane: cluster.Cluster, namespace: str, status: dict[str, Any]) -> None:
        self.control_plane, self.path, self.status = control_plane, TFJOBS.format(namespace=namespace), status
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Operator:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join(timeout=10)

    def _run(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = _get(self.control_plane, f"{self.path}/mnist-train")
            if found is not None and not found["metadata"].get("deletionTimestamp"):
                self.control_plane.request(
                    "PATCH",
                    f"{self.path}/mnist-train/status",
                    body={"status": self.status},
                    content_type=controllers.MERGE,
                )
                return
            time.sleep(controllers.INTERVAL_S)


def _tfjob(settings: settings_module.Settings) -> dict[str, Any]:
    return workloads.tfjob(
        settings=settings,
        image="registry/train:1",
        run_id="r1",
        num_workers=2,
        num_ps=1,
        train_steps=10,
        batch_size=8,
        learning_rate=0.01,
    )


def _conditions(*types: str, message: str = "") -> list[dict[str, str]]:
    now = "2026-12-03T08:00:00Z"
    return [
        {
            "type": kind,
            "status": "True",
            "reason": f"TFJob{kind}",
            "message": message or kind,
            "lastTransitionTime": now,
        }
        for kind in types
    ]


def test_run_training_returns_the_operators_status_and_says_where_pods_are_gone(
    control_plane: cluster.Cluster, settings: settings_module.Settings
) -> None:
    job = _tfjob(settings)
    status = {"conditions": _conditions("Created", "Succeeded"), "replicaStatuses": {"Chief": {"succeeded": 1}}}
    backend = backends.get(settings=settings)
    backend.grant_access()  # as 01 does: run_training stops first without the pods' ServiceAccount
    lines: list[str] = []
    with _Operator(control_plane, settings.namespace, status):
        done = backend.run_training(job, on_line=lines.append)
    assert done["conditions"][-1]["type"] == "Succeeded" and lines == []
    stored = _get(control_plane, TFJOBS.format(namespace=settings.namespace) + "/mnist-train")
    assert stored is not None and stored["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2
    # No pod is left (cleanPodPolicy): each replica says so instead of failing.
    assert set(backend.replica_logs(job, tail_lines=1).values()) == {"(pod removed by the job's cleanPodPolicy)"}


def test_a_failed_tfjob_is_a_clear_error(control_plane: cluster.Cluster, settings: settings_module.Settings) -> None:
    status = {"conditions": _conditions("Created", "Failed", message="chief OOMKilled")}
    backend = backends.get(settings=settings)
    backend.grant_access()
    with (
        _Operator(control_plane, settings.namespace, status),
        pytest.raises(errors.ClusterError, match="chief OOMKilled"),
    ):
        backend.run_training(_tfjob(settings))


def test_run_training_without_the_pods_account_names_01_on_the_real_server(
    control_plane: cluster.Cluster, settings: settings_module.Settings
) -> None:
    with pytest.raises(errors.ConfigError, match="run 01_aws_setup first"):
        backends.get(settings=settings).run_training(_tfjob(settings))
    assert _get(control_plane, TFJOBS.format(namespace=settings.namespace) + "/mnist-train") is None


@pytest.fixture
def playing(control_plane: cluster.Cluster, kubeflow_profile: profile.Profile) -> Iterator[controllers.Playing]:
    with controllers.Playing(control_plane, kubeflow_profile.namespace) as kubelet:
        yield kubelet


def test_deploy_waits_for_the_rollout_and_returns_in_cluster_urls(
    control_plane: cluster.Cluster, settings: settings_module.Settings, playing: controllers.Playing
) -> None:
    role = "arn:aws:iam::123456789012:role/mnist-pods"
    backend = backends.get(settings=settings.model_copy(update={"role_arn": role}))
    backend.grant_access()  # the pods' ServiceAccount: the API server admits no pod that names a missing one
    resources = workloads.serving(settings=settings)
    urls = backend.deploy(resources)
    namespace = settings.namespace
    assert urls == {"mnist-serving": f"http://mnist-serving.{namespace}.svc.cluster.local:8501"}
    deployment = _get(control_plane, f"/apis/apps/v1/namespaces/{namespace}/deployments/mnist-serving")
    assert deployment is not None and deployment["status"]["availableReplicas"] == 1
    backend.undeploy(resources)
    assert _get(control_plane, f"/apis/apps/v1/namespaces/{namespace}/deployments/mnist-serving") is None
    # Foreground deletion: the Deployment went only after its ReplicaSets and pods.
    assert not control_plane.request("GET", f"/apis/apps/v1/namespaces/{namespace}/replicasets")["items"]


@pytest.fixture
def context(tmp_path: pathlib.Path) -> image.BuildContext:
    project = tmp_path / "project"
    (project / "model").mkdir(parents=True)
    (project / "model" / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY model/model.py /app/model.py\n")
    (project / "model" / "model.py").write_text("print('train')\n")
    return image.build_context(output_dir=tmp_path / "contexts", project_dir=project)


@pytest.mark.parametrize("node", [None, "scaled-away"])
def test_a_build_counts_as_built_even_where_its_log_is_gone(
    control_plane: cluster.Cluster, settings: settings_module.Settings, context: image.BuildContext, node: str | None
) -> None:
    # The real API server answers pods/log of a pod whose node is gone (an autoscaler removes idle nodes soon
    # after a Job ends) with 404. The build read its log tail after success and failed there, recording nothing.
    backend = backends.get(settings=settings)
    backend.ensure_storage()
    backend.grant_access()
    with controllers.Playing(control_plane, settings.namespace, node=node):
        built = backend.build_image(
            context=context, builder_image="executor:v1", repository="kubeflow-mnist/train", record_as="image"
        )
    assert built.status_of("image") == "built" and built.status_of("build Job") == "succeeded"
    assert state.get(settings.state_dir, "image")["tag"] == context.tag
    job = _get(control_plane, f"/apis/batch/v1/namespaces/{settings.namespace}/jobs/mnist-build-{context.tag}")
    assert job is not None
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert f"--context=s3://{backend.settings.bucket}/build-contexts/{context.tag}.tar.gz" in container["args"]
    destination = "--destination=123456789012.dkr.ecr.us-west-2.amazonaws.com/kubeflow-mnist/train:"
    assert any(argument.startswith(destination) for argument in container["args"])
    assert "envFrom" in container  # the aws-secret's keys, without IRSA


def test_irsa_removes_the_secret_from_the_build_pod(
    control_plane: cluster.Cluster, settings: settings_module.Settings, context: image.BuildContext
) -> None:
    trust = '{"Version": "2012-10-17", "Statement": []}'
    boto3.client("iam").create_role(RoleName="mnist-pods", AssumeRolePolicyDocument=trust)
    backend = backends.get(
        settings=settings.model_copy(update={"role_arn": "arn:aws:iam::123456789012:role/mnist-pods"})
    )
    backend.ensure_storage()
    backend.grant_access()
    with controllers.Playing(control_plane, settings.namespace):
        backend.build_image(
            context=context, builder_image="executor:v1", repository="kubeflow-mnist/train", record_as="image"
        )
    job = _get(control_plane, f"/apis/batch/v1/namespaces/{settings.namespace}/jobs/mnist-build-{context.tag}")
    assert job is not None and "envFrom" not in job["spec"]["template"]["spec"]["containers"][0]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "mnist-workloads"


def test_a_failed_build_says_why_even_where_its_log_is_gone(
    control_plane: cluster.Cluster, settings: settings_module.Settings, context: image.BuildContext
) -> None:
    backend = backends.get(settings=settings)
    backend.ensure_storage()
    backend.grant_access()

    def fails_at_once(pod: dict[str, Any]) -> str:
        # The job controller waits 10 s before a failed pod's second try (the manifest's backoffLimit is 1):
        # the admin lowers the limit, so the first failure ends the Job.
        (owner,) = pod["metadata"]["ownerReferences"]
        path = f"/apis/batch/v1/namespaces/{settings.namespace}/jobs/{owner['name']}"
        control_plane.request("PATCH", path, body={"spec": {"backoffLimit": 0}}, content_type=controllers.MERGE)
        return "Failed"

    with (
        controllers.Playing(control_plane, settings.namespace, outcome=fails_at_once, node="scaled-away"),
        pytest.raises(errors.ClusterError, match="BackoffLimitExceeded"),
    ):
        backend.build_image(
            context=context, builder_image="executor:v1", repository="kubeflow-mnist/train", record_as="image"
        )
    assert "image" not in state.read(settings.state_dir)
