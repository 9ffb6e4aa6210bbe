"""Fixtures for the backend tests: moto for AWS and the API server stand-in for Kubernetes."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
import yaml

from helpers import settings as settings_module
from tests.aws import conftest as aws_fixtures
from tests.cluster import conftest as cluster_fixtures, fake_api as fake_api_module
from tests.cluster.objects import NAMESPACE

# The AWS and Kubernetes fixtures, shared with the tests of those packages.
aws_environment = aws_fixtures.aws_environment
mocked_aws = aws_fixtures.mocked_aws
fake_api = cluster_fixtures.fake_api


@pytest.fixture
def kube_config(
    fake_api: fake_api_module.FakeApiServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> pathlib.Path:
    """A kubeconfig in $KUBECONFIG pointing the real client at the stand-in."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": {"server": fake_api.url}}],
                "users": [{"name": "test", "user": {"token": "test-token"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": NAMESPACE}}],
                "current-context": "test",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def kubeflow_settings(tmp_path: pathlib.Path) -> Iterator[settings_module.Settings]:
    """Settings for the kubeflow backend with quick retries and waits."""
    yield settings_module.load(
        backend="kubeflow",
        state_dir=str(tmp_path / "state"),
        namespace=NAMESPACE,
        region="us-west-2",
        api_retries=2,
        api_backoff_s=0.01,
        wait_timeout_s=5.0,
    )


@pytest.fixture
def pods_account(fake_api: fake_api_module.FakeApiServer) -> None:
    """01 has run: the pods' ServiceAccount is there (run_training and deploy check it first)."""
    fake_api.add("api/v1", "serviceaccounts", {"metadata": {"name": "mnist-workloads", "namespace": NAMESPACE}})
