"""Run the real training operator (v1.9.x, TFJob only) against the control plane, as a local process.

Its controllers start only after its webhook-certificate step (open-policy-agent's cert rotator):
the Secret `training-operator-webhook-cert` must exist in its namespace (MY_POD_NAMESPACE), and the
rotator waits for `tls.crt` under /tmp/k8s-webhook-server/serving-certs, where a Deployment mounts
that Secret. We make the CA and serving certificate ourselves, valid for the rotator's names and for
127.0.0.1, put them in the Secret (so the rotator keeps them), in that folder and in a private one the
webhook server reads (TMPDIR), and register the TFJob validating webhook at https://127.0.0.1:<port>,
so the API server calls the operator's own validation as on a cluster. It runs with the admin kubeconfig
(the operator's ClusterRole would be bound to its ServiceAccount on a cluster); metrics and health
endpoints are off.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import pathlib
import signal
import subprocess
import time
from typing import Any

from controlplane import build, cluster as cluster_module, errors, pki
from helpers.local import pids, ports

logger = logging.getLogger(__name__)

NAMESPACE = "kubeflow"
SECRET_NAME = "training-operator-webhook-cert"
SERVICE_NAME = "training-operator"
WEBHOOK_CONFIGURATION = "validator.training-operator.kubeflow.org"
WEBHOOK_PATH = "/validate-kubeflow-org-v1-tfjob"
# The rotator's own names (github.com/kubeflow/training-operator pkg/cert): its CA must be valid for
# CA_NAME and the serving certificate for <service>.<namespace>.svc, or it makes new ones.
CA_NAME = "training-operator-ca"
# Where the rotator looks for tls.crt, whatever the webhook server's own folder is (a constant upstream).
ROTATOR_CERT_DIR = pathlib.Path("/tmp/k8s-webhook-server/serving-certs")
# Seconds to wait for the operator's TFJob controller to start (certificates, caches, leader-free start).
READY_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0
# The log line (console or JSON encoded) that says the TFJob controller is reconciling.
READY_WORDS = ("Starting workers", "tfjob-controller")
FOLDER = "training-operator"


@dataclasses.dataclass
class Operator:
    """The running operator: its process, log file and webhook port."""

    process: subprocess.Popen[bytes]
    log_path: pathlib.Path
    webhook_port: int
    cluster: cluster_module.Cluster

    def stop(self) -> None:
        """Stop the operator (SIGTERM, grace, SIGKILL) and unregister its webhook, so TFJobs stay creatable."""
        if self.process.poll() is None:
            pids.signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pids.signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait()
        _delete(
            self.cluster,
            f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{WEBHOOK_CONFIGURATION}",
        )

    def tail(self, lines: int = 30) -> str:
        """The last lines of the operator's log."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def certificates(folder: pathlib.Path) -> dict[str, bytes]:
    """ca.crt, ca.key, tls.crt and tls.key as the rotator accepts them (made once per folder by `pki`).

    RSA keys: the rotator reads the CA key from the Secret with x509.ParsePKCS1PrivateKey, RSA only. Both
    last a year (`pki.VALIDITY`), past the 90 days within which the rotator would make new ones.
    """
    if (folder / "ca.key").is_file() and b"RSA PRIVATE KEY" not in (folder / "ca.key").read_bytes():
        for name in ("ca.crt", "ca.key", "tls.crt", "tls.key"):
            (folder / name).unlink(missing_ok=True)  # made by an earlier version, in a form the rotator refuses
    authority = pki.ca(folder, name=CA_NAME, organization="training-operator", key_type="rsa")
    server = pki.serving(authority, folder, "tls", dns_names=(f"{SERVICE_NAME}.{NAMESPACE}.svc",))
    return {
        "ca.crt": authority.cert.read_bytes(),
        "ca.key": authority.key.read_bytes(),
        "tls.crt": server.cert.read_bytes(),
        "tls.key": server.key.read_bytes(),
    }


def _delete(cluster: cluster_module.Cluster, path: str) -> None:
    try:
        cluster.request("DELETE", path)
    except errors.ControlPlaneError as e:
        if "HTTP 404" not in str(e):
            raise


def _create_or_replace(cluster: cluster_module.Cluster, collection: str, body: dict[str, Any]) -> None:
    name = body["metadata"]["name"]
    try:
        cluster.request("POST", collection, body=body)
    except errors.ControlPlaneError as e:
        if "HTTP 409" not in str(e):
            raise
        current = cluster.request("GET", f"{collection}/{name}")
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        cluster.request("PUT", f"{collection}/{name}", body=body)


def _prerequisites(cluster: cluster_module.Cluster, certs: dict[str, bytes], webhook_port: int) -> None:
    """The operator's namespace, its certificate Secret and the validating webhook registration."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    try:
        cluster.request("POST", "/api/v1/namespaces", body=namespace)
    except errors.ControlPlaneError as e:
        if "HTTP 409" not in str(e):
            raise
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET_NAME, "namespace": NAMESPACE},
        "type": "Opaque",
        "data": {name: base64.b64encode(content).decode() for name, content in certs.items()},
    }
    _create_or_replace(cluster, f"/api/v1/namespaces/{NAMESPACE}/secrets", secret)
    webhook: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_CONFIGURATION},
        "webhooks": [
            {
                "name": "validator.tfjob.training-operator.kubeflow.org",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "clientConfig": {
                    "url": f"https://127.0.0.1:{webhook_port}{WEBHOOK_PATH}",
                    "caBundle": base64.b64encode(certs["ca.crt"]).decode(),
                },
                "rules": [
                    {
                        "apiGroups": ["kubeflow.org"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["tfjobs"],
                    }
                ],
            }
        ],
    }
    _create_or_replace(cluster, "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", webhook)


def _place_certificates(certs: dict[str, bytes], folder: pathlib.Path) -> pathlib.Path:
    """Write tls.crt/tls.key where the webhook server reads them (TMPDIR) and where the rotator checks.

    Returns the TMPDIR to give the operator. The shared /tmp folder is only written when it has no
    tls.crt yet: another operator on this machine may be using it, and the rotator only checks that
    the file exists.
    """
    temporary = folder / "tmp"
    serving = temporary / "k8s-webhook-server" / "serving-certs"
    for directory in (serving, ROTATOR_CERT_DIR):
        if directory == ROTATOR_CERT_DIR and (directory / "tls.crt").is_file():
            continue
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("tls.crt", "tls.key", "ca.crt"):
            (directory / name).touch(mode=0o600, exist_ok=True)
            (directory / name).write_bytes(certs[name])
    return temporary


def _ready(log_path: pathlib.Path) -> bool:
    return any(all(word in line for word in READY_WORDS) for line in log_path.read_text(errors="replace").splitlines())


def start(cluster: cluster_module.Cluster, *, state_dir: pathlib.Path, timeout_s: float = READY_TIMEOUT_S) -> Operator:
    """Build (once) and start the training operator for TFJobs; returns when its TFJob controller runs.

    Raises ControlPlaneError when it exits or does not start in `timeout_s` (with its log's tail).
    """
    binary = build.binary("training-operator")
    folder = state_dir / FOLDER
    certs = certificates(folder / "pki")
    webhook_port = ports.free_port()
    _prerequisites(cluster, certs, webhook_port)
    temporary = _place_certificates(certs, folder)
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.admin_kubeconfig),
        "MY_POD_NAMESPACE": NAMESPACE,
        "TMPDIR": str(temporary),
    }
    env.pop("KUBEFLOW_NAMESPACE", None)  # unset: the operator watches every namespace, as installed
    argv = [
        str(binary),
        "--enable-scheme=tfjob",
        "--metrics-bind-address=0",
        "--health-probe-bind-address=0",
        f"--webhook-server-port={webhook_port}",
        f"--kubeconfig={cluster.admin_kubeconfig}",
    ]
    log_path = folder / "training-operator.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    operator = Operator(process=process, log_path=log_path, webhook_port=webhook_port, cluster=cluster)
    deadline = time.monotonic() + timeout_s
    while not _ready(log_path):
        if process.poll() is not None or time.monotonic() > deadline:
            operator.stop()
            raise errors.ControlPlaneError(
                f"the training operator did not start (exit code {process.returncode}); log {log_path}:\n"
                + operator.tail()
            )
        time.sleep(0.5)
    logger.info("training operator running (pid %s), webhook on 127.0.0.1:%s", process.pid, webhook_port)
    return operator
