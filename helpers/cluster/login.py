"""Log in to the Kubernetes API: the pod's service account first, then a kubeconfig.

Inside a Kubeflow notebook server the pod's service account is the identity to use; on a
laptop it is the kubeconfig (`aws eks update-kubeconfig`). When neither loads, one
ClusterError says that both were tried and why each failed (style rule 16, after kopf).
"""

from __future__ import annotations

import logging
import os
import pathlib
from collections.abc import Mapping
from typing import Any

from kubernetes import client, config
from kubernetes.config import config_exception, incluster_config

from helpers import errors, settings as settings_module
from helpers.cluster import _api

logger = logging.getLogger(__name__)

# Where a pod finds its service-account token and the cluster's CA certificate.
SERVICE_ACCOUNT_DIR = pathlib.Path(incluster_config.SERVICE_TOKEN_FILENAME).parent

# What loading a configuration raises: the library's own error, a missing or unreadable file,
# or a kubeconfig that is not a mapping of the expected shape.
_LOAD_ERRORS = (config_exception.ConfigException, OSError, ValueError, TypeError, KeyError)


def connect(
    *,
    settings: settings_module.Settings,
    kube_config: str | os.PathLike[str] | None = None,
    context: str | None = None,
    host: str | None = None,
    environ: Mapping[str, str] | None = None,
    service_account_dir: pathlib.Path = SERVICE_ACCOUNT_DIR,
) -> Any:
    """A `kubernetes.client.ApiClient` logged in to the cluster, after checking that the server answers.

    `host` (a plain URL, no credentials) or `kube_config` (one file, optionally with `context`)
    skip the search; otherwise the in-cluster service account is tried, then `$KUBECONFIG` or
    `~/.kube/config`. Raises ClusterError when no configuration loads or the server does not answer.
    The caller closes the client (`api.close()`) when done.
    """
    environ = os.environ if environ is None else environ
    configuration = client.Configuration()
    if host is not None:
        configuration.host = host
        source = "the given host"
    elif kube_config is not None:
        source = _load_kube_config(configuration, kube_config, context=context)
    else:
        source = _load_any(configuration, environ=environ, service_account_dir=service_account_dir)
    # `_api` retries named transient errors itself and logs each attempt; urllib3 would retry silently first.
    configuration.retries = False
    api = client.ApiClient(configuration)
    call = _api.Call(
        verb="get",
        path="/version",
        action="log in to",
        target=f"the Kubernetes API (with {source})",
        rbac_resource="/version",
    )
    try:
        version = _api.request(api, call, settings=settings)
    except errors.ClusterError:
        api.close()
        raise
    logger.info("logged in to %s (Kubernetes %s) with %s", configuration.host, version.get("gitVersion"), source)
    return api


def _load_any(configuration: Any, *, environ: Mapping[str, str], service_account_dir: pathlib.Path) -> str:
    """Load the in-cluster configuration, else the default kubeconfig; says which one loaded."""
    loader = incluster_config.InClusterConfigLoader(
        token_filename=str(service_account_dir / "token"),
        cert_filename=str(service_account_dir / "ca.crt"),
        environ=environ,
    )
    try:
        loader.load_and_set(configuration)
        return f"the service account in {service_account_dir}"
    except _LOAD_ERRORS as e:
        in_cluster_error = e
    kube_config = environ.get("KUBECONFIG") or str(pathlib.Path("~/.kube/config").expanduser())
    try:
        config.load_kube_config(config_file=kube_config, client_configuration=configuration, persist_config=False)
        return f"kubeconfig {kube_config}"
    except _LOAD_ERRORS as e:
        raise errors.ClusterError(
            "log in to",
            "the Kubernetes API",
            f"tried the in-cluster service account ({in_cluster_error}) and then kubeconfig {kube_config} ({e});"
            " run inside a Kubeflow notebook server, or point KUBECONFIG at a cluster"
            " (`aws eks update-kubeconfig --name CLUSTER`)",
        ) from e


def _load_kube_config(configuration: Any, kube_config: str | os.PathLike[str], *, context: str | None) -> str:
    """Load one kubeconfig file (and context); says which one loaded."""
    try:
        config.load_kube_config(
            config_file=os.fspath(kube_config),
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except _LOAD_ERRORS as e:
        raise errors.ClusterError("log in to", "the Kubernetes API", f"kubeconfig {kube_config}: {e}") from e
    return f"kubeconfig {kube_config}" + (f" (context {context})" if context else "")
