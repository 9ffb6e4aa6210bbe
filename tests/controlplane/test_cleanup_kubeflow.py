"""`make clean`'s kubeflow path (helpers.cleanup) on the real API server as the profile's accounts, AWS under moto.

Moved from tests/test_cleanup.py. Clean-up logs in as the notebook does (KUBECONFIG); the series' objects are put
there by the admin, as if the notebooks had applied them (one per kind, with the series' label), next to objects
that are not the series'. The pvc-protection controller, which this control plane does not run, is played by
`controllers.Playing`. Per release (what a profile may not delete is kept and named): test_releases.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3.session
import pytest

from controlplane import cluster, errors as controlplane_errors, profile
from helpers import cleanup, errors, settings as settings_module, state
from helpers.cluster import _kinds
from tests.aws import conftest as aws_fixtures, test_ecr
from tests.cluster import objects

from . import controllers

aws_environment = aws_fixtures.aws_environment
mocked_aws = aws_fixtures.mocked_aws

PART_OF = {"app.kubernetes.io/part-of": "kubeflow-mnist", "app.kubernetes.io/name": "mnist"}
BUCKET = "mnist-cleanup-test"
CONTAINER = {"name": "main", "image": "registry/mnist:1"}
POD = {"containers": [CONTAINER]}


def _series() -> list[dict[str, Any]]:
    """One object of each kind the series applies, as small as the API server accepts."""
    template = {"metadata": {"labels": {"app": "mnist-serving"}}, "spec": POD}
    deployment = {"replicas": 1, "selector": {"matchLabels": {"app": "mnist-serving"}}, "template": template}
    route = {"hosts": ["*"], "http": [{"route": [{"destination": {"host": "mnist-ui"}}]}]}
    claim = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    bodies = {
        ("ServiceAccount", "mnist-workloads"): {},
        ("Secret", "aws-secret"): {"stringData": {"AWS_ACCESS_KEY_ID": "x"}},
        ("ConfigMap", "mnist-serving-config"): {"data": {"a": "b"}},
        ("Job", "mnist-build-abc123"): {"spec": {"template": {"spec": {**POD, "restartPolicy": "Never"}}}},
        ("TFJob", "mnist-train"): {"spec": objects.tfjob()["spec"]},
        ("PersistentVolumeClaim", "mnist-tensorboard-logs"): {"spec": claim},
        ("Tensorboard", "mnist-tensorboard"): {"spec": {"logspath": "pvc://mnist-tensorboard-logs/"}},
        ("Deployment", "mnist-serving"): {"spec": deployment},
        ("Service", "mnist-serving"): {"spec": {"selector": {"app": "mnist-serving"}, "ports": [{"port": 8501}]}},
        ("VirtualService", "mnist-ui"): {"spec": route},
    }
    series = []
    for (kind, name), body in bodies.items():
        api_version = _kinds.by_name(kind).api_version
        series.append({"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "labels": PART_OF}, **body})
    return series


def _create(control_plane: cluster.Cluster, namespace: str, body: dict[str, Any]) -> None:
    control_plane.request("POST", _kinds.of(body).path(namespace=namespace), body=body)


def _exists(control_plane: cluster.Cluster, namespace: str, kind: str, name: str) -> bool:
    try:
        found = control_plane.request("GET", _kinds.by_name(kind).path(namespace=namespace, name=name))
    except controlplane_errors.ControlPlaneError as e:
        if "HTTP 404" in str(e):
            return False
        raise
    return not found["metadata"].get("deletionTimestamp")


@pytest.fixture
def namespace_with_the_series(control_plane: cluster.Cluster, kubeflow_profile: profile.Profile) -> Iterator[str]:
    """The profile namespace holding the series' objects and others; the pvc-protection controller played."""
    namespace = kubeflow_profile.namespace
    for body in _series():
        _create(control_plane, namespace, body)
    # The profile's ServiceAccount carries our labels once IRSA was applied to it; it must stay.
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/default-editor"
    control_plane.request("PATCH", path, body={"metadata": {"labels": PART_OF}}, content_type=controllers.MERGE)
    _create(control_plane, namespace, objects.config_map("someone-elses", labels={"team": "other"}))
    other = {**_series()[7], "metadata": {"name": "other", "labels": {"app.kubernetes.io/part-of": "other"}}}
    _create(control_plane, namespace, other)
    with controllers.Playing(control_plane, namespace, outcome=lambda pod: None):
        yield namespace


@pytest.fixture
def cluster_settings(
    kubeflow_profile: profile.Profile,
    editor_settings: settings_module.Settings,
    mocked_aws: None,
    monkeypatch: pytest.MonkeyPatch,
) -> settings_module.Settings:
    """Settings after the series ran: a versioned bucket, a repository with an image, outputs in the state file."""
    monkeypatch.setenv("KUBECONFIG", str(kubeflow_profile.editor_kubeconfig))
    session = boto3.session.Session(region_name="us-west-2")
    aws_fixtures.create_bucket(session, BUCKET)
    client = session.client("s3")
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2"):
        client.put_object(Bucket=BUCKET, Key="models/mnist/1/saved_model.pb", Body=body)
    ecr = session.client("ecr")
    ecr.create_repository(repositoryName="kubeflow-mnist/train")
    ecr.put_image(repositoryName="kubeflow-mnist/train", imageManifest=test_ecr.MANIFEST, imageTag="abc123")
    settings = editor_settings.model_copy(update={"bucket": BUCKET, "region": "us-west-2"})
    settings_module.save(settings)
    state.update(settings.state_dir, "image", {"uri": "registry/kubeflow-mnist/train:abc123"})
    (settings.state_dir / "cache" / BUCKET).mkdir(parents=True)
    return settings


def _bucket_exists(name: str) -> bool:
    return name in [bucket["Name"] for bucket in boto3.client("s3").list_buckets()["Buckets"]]


def _repository_exists(name: str) -> bool:
    listed = boto3.client("ecr", region_name="us-west-2").describe_repositories()["repositories"]
    return name in [repository["repositoryName"] for repository in listed]


@pytest.mark.parametrize("kubeflow_profile", ["v1.9.1"], indirect=True)
def test_deletes_the_series_by_label_and_keeps_everything_else(
    control_plane: cluster.Cluster, namespace_with_the_series: str, cluster_settings: settings_module.Settings
) -> None:
    # v1.9.1: the profile may delete VirtualServices too, so every kind the series applies goes.
    namespace = namespace_with_the_series
    done = cleanup.clean_up(settings=cluster_settings)
    for resource in _series():
        assert not _exists(control_plane, namespace, resource["kind"], resource["metadata"]["name"]), resource["kind"]
    assert _exists(control_plane, namespace, "ServiceAccount", "default-editor")
    assert _exists(control_plane, namespace, "ConfigMap", "someone-elses")
    assert _exists(control_plane, namespace, "Deployment", "other")
    removed = [row.name for row in done.rows if row.item == "cluster object"]
    assert len(removed) == len(_series())
    # Users before what they use: the Secret holding the keys and the pods' ServiceAccount go last.
    assert removed[0].startswith("VirtualService/") and removed[-2].startswith("Secret/aws-secret")
    assert removed[-1].startswith("ServiceAccount/mnist-workloads")
    assert not [row for row in done.rows if row.item == "ServiceAccount"]  # the profile's own is not ours to name
    assert done.status_of("S3 bucket") == done.status_of("ECR repository") == "kept"
    assert _bucket_exists(BUCKET) and _repository_exists("kubeflow-mnist/train")
    assert done.status_of("download cache") == "removed"
    assert set(state.read(cluster_settings.state_dir)) == {"settings"}
    again = cleanup.clean_up(settings=cluster_settings)
    assert again.status_of("cluster objects") == "already gone"
    assert again.status_of("download cache") == "already gone"


def test_deletes_bucket_and_repository_only_when_asked(
    namespace_with_the_series: str, cluster_settings: settings_module.Settings
) -> None:
    first = cleanup.clean_up(settings=cluster_settings, bucket=True)
    assert first.status_of("S3 bucket") == "removed" and not _bucket_exists(BUCKET)
    assert first.status_of("ECR repository") == "kept" and _repository_exists("kubeflow-mnist/train")
    second = cleanup.clean_up(settings=cluster_settings, bucket=True, repository=True)
    assert second.status_of("S3 bucket") == "already gone"
    assert second.status_of("ECR repository") == "removed" and not _repository_exists("kubeflow-mnist/train")
    assert cleanup.clean_up(settings=cluster_settings, repository=True).status_of("ECR repository") == "already gone"


def test_a_refusal_is_a_cluster_error_and_the_state_stays(
    control_plane: cluster.Cluster,
    kubeflow_profile: profile.Profile,
    namespace_with_the_series: str,
    cluster_settings: settings_module.Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The profile's viewer may list everything but delete nothing: the first kind the series needed fails.
    monkeypatch.setenv("KUBECONFIG", str(kubeflow_profile.viewer_kubeconfig))
    with pytest.raises(errors.ClusterError) as caught:
        cleanup.clean_up(settings=cluster_settings)
    assert caught.value.status == 403 and "kubectl auth can-i delete services" in str(caught.value)
    assert _exists(control_plane, namespace_with_the_series, "Service", "mnist-serving")
    assert "image" in state.read(cluster_settings.state_dir)


def test_the_profiles_own_service_account_is_kept_and_named(
    control_plane: cluster.Cluster, namespace_with_the_series: str, cluster_settings: settings_module.Settings
) -> None:
    # A user who ran the pods as default-editor (an earlier version labelled it for IRSA): it stays.
    settings = cluster_settings.model_copy(update={"service_account": "default-editor"})
    done = cleanup.clean_up(settings=settings)
    assert _exists(control_plane, namespace_with_the_series, "ServiceAccount", "default-editor")
    assert done.status_of("ServiceAccount") == "kept"
    assert "belongs to the Kubeflow profile" in next(row.name for row in done.rows if row.item == "ServiceAccount")
