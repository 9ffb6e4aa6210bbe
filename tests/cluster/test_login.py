"""`helpers.cluster.login`: which configuration wins, and what failing says.

Logging in with a kubeconfig, finding the default one, and a refused token run on the real API server
(tests/controlplane/test_cluster_client.py). Kept on the stand-in: a plain `host` (the real server speaks only
TLS with its own CA and credentials), and the service account tried first (only a recording server shows that
no request reached the kubeconfig's server); the rest needs no server at all.
"""

from __future__ import annotations

import pathlib
import socket

import pytest
import yaml

from helpers import errors, settings as settings_module
from helpers.cluster import login

from . import fake_api as fake_api_module


def _kubeconfig(path: pathlib.Path, *, server: str, token: str) -> pathlib.Path:
    """A kubeconfig with one cluster, user (a bearer token) and context."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "someone", "user": {"token": token}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "someone"}}],
        "current-context": "fake",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connect_to_a_host_checks_that_the_server_answers(
    fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    api = login.connect(settings=cluster_settings, host=fake_api.url)
    api.close()

    assert [(call["method"], call["path"]) for call in fake_api.requests] == [("GET", "/version")]


def test_the_service_account_is_tried_before_the_kubeconfig(
    fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("pod-token")
    (account / "ca.crt").write_text("not a certificate")
    kube_config = _kubeconfig(tmp_path / "config", server=fake_api.url, token="from-kubeconfig")
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(_free_port())}

    with pytest.raises(errors.ClusterError) as raised:
        login.connect(
            settings=cluster_settings, environ={**environ, "KUBECONFIG": str(kube_config)}, service_account_dir=account
        )

    # The in-cluster configuration loaded (so the kubeconfig was not used) and its https host did not answer.
    assert f"the service account in {account}" in str(raised.value)
    assert "https://127.0.0.1:" in str(raised.value)
    assert fake_api.requests == []


def test_when_both_fail_the_error_says_both_were_tried(
    cluster_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    with pytest.raises(errors.ClusterError) as raised:
        login.connect(
            settings=cluster_settings,
            environ={"KUBECONFIG": str(tmp_path / "missing-config")},
            service_account_dir=tmp_path / "no-such-dir",
        )

    message = str(raised.value)
    assert "in-cluster service account" in message
    assert f"kubeconfig {tmp_path / 'missing-config'}" in message
    assert isinstance(raised.value.__cause__, Exception)


@pytest.mark.parametrize("content", ["", "just text", "clusters: 5\n"])
def test_a_broken_kubeconfig_is_a_cluster_error(
    cluster_settings: settings_module.Settings, tmp_path: pathlib.Path, content: str
) -> None:
    path = tmp_path / "config"
    path.write_text(content)

    with pytest.raises(errors.ClusterError, match="kubeconfig"):
        login.connect(settings=cluster_settings, kube_config=path)


def test_a_server_that_does_not_answer_is_a_cluster_error(cluster_settings: settings_module.Settings) -> None:
    host = f"http://127.0.0.1:{_free_port()}"

    with pytest.raises(errors.ClusterError) as raised:
        login.connect(settings=cluster_settings, host=host)

    assert f"cannot reach the API server at {host}" in str(raised.value)
    assert raised.value.action == "log in to"
