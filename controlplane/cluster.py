"""Start and stop etcd, kube-apiserver and kube-controller-manager on 127.0.0.1, idempotently.

`up` builds what is missing (`build`), makes the certificates (`pki`), starts the three processes
in their own sessions with logs and pid records under `<state_dir>/controlplane/`, and waits until
the API server is ready and the controller manager acts. A second `up` finds them running and
does nothing. `down` stops them (SIGTERM, a grace period, SIGKILL) and leaves no process behind;
etcd's data stays, so the next `up` is a warm start. There is no scheduler and no kubelet: the
node agent (`helpers.local.node`) binds pods and runs them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import pathlib
import secrets
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from controlplane import build, client, errors, pki, processes
from helpers import files
from helpers.local import pids, ports

logger = logging.getLogger(__name__)

FOLDER = "controlplane"
RECORD = "cluster.json"
# How long each process may take to become ready; a cold API server on a busy 2-core machine
# installs its built-in objects in 10-20 s, so a minute leaves room without hiding a hang.
READY_TIMEOUT_S = 120.0
# Seconds a stopped process gets between SIGTERM and SIGKILL: etcd and the API server shut down in
# well under a second when idle; more only delays a test session's end.
STOP_GRACE_S = 10.0
POLL_S = 0.2
# In-cluster Service addresses; nothing routes them here, but the API server needs a range.
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# A workshop day; tokens for tests are asked for anew at each session anyway.
TOKEN_EXPIRATION_S = 86400
# What the series needs of the controller manager, and nothing that expects a kubelet's heartbeats
# (node lifecycle would taint and evict the node agent's node).
CONTROLLERS = (
    "deployment",
    "replicaset",
    "job",
    "ttl-after-finished",
    "garbagecollector",
    "namespace",
    "endpointslice",
    "serviceaccount",
    "serviceaccount-token",
    "root-ca-cert-publisher",
    "podgc",
    # A deleted PersistentVolumeClaim (TensorBoard's logs volume) keeps its protection finalizer
    # until this controller removes it; without it, clean-up waits forever.
    "pvc-protection",
)
PROCESSES = ("etcd", "kube-apiserver", "kube-controller-manager")
# The names in-cluster clients use for the API server; its certificate names them besides loopback.
IN_CLUSTER_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A running control plane: where it answers and how to log in to it."""

    folder: pathlib.Path
    server_url: str
    ca_file: pathlib.Path
    admin_kubeconfig: pathlib.Path

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> dict[str, Any]:
        """One request as the admin (system:masters) to `path`; raises ControlPlaneError for an error status."""
        return client.request(
            method,
            self.server_url + path,
            token=self.admin_token(),
            ca_file=self.ca_file,
            body=body,
            content_type=content_type,
            accept=accept,
        )

    def admin_token(self) -> str:
        """The system:masters token (for fixtures and controllers, never for the notebook's calls)."""
        return _admin_token(self.folder)

    def kubeconfig_for(
        self, *, namespace: str, service_account: str, expiration_s: int = TOKEN_EXPIRATION_S
    ) -> pathlib.Path:
        """A kubeconfig that logs in as `system:serviceaccount:<namespace>:<service_account>` (a TokenRequest)."""
        url = f"{self.server_url}/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"}
        answer = client.request(
            "POST",
            url,
            token=self.admin_token(),
            ca_file=self.ca_file,
            body={**body, "spec": {"expirationSeconds": expiration_s}},
        )
        token = answer["status"]["token"]
        path = self.folder / "kubeconfigs" / f"{namespace}.{service_account}.kubeconfig"
        client.write_kubeconfig(
            path, server_url=self.server_url, ca_file=self.ca_file, user=service_account, token=token
        )
        return path


def folder_of(state_dir: pathlib.Path) -> pathlib.Path:
    """The control plane's folder under a state folder."""
    return state_dir / FOLDER


def _read_record(folder: pathlib.Path) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record


def _write_record(folder: pathlib.Path, record: dict[str, Any]) -> None:
    files.write_json(folder / RECORD, record)


def _cluster(folder: pathlib.Path, record: dict[str, Any]) -> Cluster:
    return Cluster(
        folder=folder,
        server_url=f"https://127.0.0.1:{record['ports']['apiserver']}",
        ca_file=folder / "pki" / "ca.crt",
        admin_kubeconfig=folder / "admin.kubeconfig",
    )


def running(*, state_dir: pathlib.Path) -> Cluster | None:
    """The control plane recorded in `state_dir` when its processes run, else None (nothing is started)."""
    record = _read_record(folder_of(state_dir))
    if not record or not all(status(state_dir=state_dir).values()):
        return None
    return _cluster(folder_of(state_dir), record)


def status(*, state_dir: pathlib.Path) -> dict[str, bool]:
    """Which of the three processes run, by name."""
    processes = _read_record(folder_of(state_dir)).get("processes", {})
    return {name: name in processes and pids.is_alive(processes[name]) for name in PROCESSES}


def up(*, state_dir: pathlib.Path, before_controllers: Callable[[Cluster], object] | None = None) -> Cluster:
    """The running control plane of `state_dir`, started (and built) first if it is not running.

    `before_controllers(cluster)` runs once the API server is ready and before the controller manager
    starts: install CRDs there. The garbage collector discovers resources when it starts and again only
    every 30 s, and until it knows a kind, a foreground deletion of its objects waits.
    Raises ControlPlaneError when a binary cannot be built or a process does not become ready.
    """
    folder = folder_of(state_dir)
    record = _read_record(folder)
    if record and all(status(state_dir=state_dir).values()):
        cluster = _cluster(folder, record)
        with contextlib.suppress(errors.ControlPlaneError):
            _wait_ready(cluster, record=record, timeout_s=POLL_S * 10)
            logger.info("control plane already running at %s", cluster.server_url)
            return cluster
    down(state_dir=state_dir)
    binaries = {name: build.binary(name) for name in PROCESSES}
    record = {"ports": _ports(record.get("ports", {})), "processes": {}}
    pki_dir = folder / "pki"
    authority = pki.ca(pki_dir)
    apiserver_pair = pki.serving(
        authority,
        pki_dir,
        "kube-apiserver",
        dns_names=(
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
    )
    signing = pki.signing_key(pki_dir)
    admin_token = _admin_token(folder)
    cluster = _cluster(folder, record)
    client.write_kubeconfig(
        cluster.admin_kubeconfig, server_url=cluster.server_url, ca_file=authority.cert, user="admin", token=admin_token
    )
    arguments = {
        "etcd": _etcd_args(folder, record["ports"]),
        "kube-apiserver": _apiserver_args(folder, record["ports"], authority, apiserver_pair, signing),
        "kube-controller-manager": _controller_manager_args(cluster, authority, signing),
    }
    for name in PROCESSES:
        if name == "kube-controller-manager" and before_controllers is not None:
            before_controllers(cluster)
        argv = [str(binaries[name]), *arguments[name]]
        record["processes"][name] = processes.start(name, argv, folder=folder)
        _write_record(folder, record)
        _wait_ready(cluster, record=record, timeout_s=READY_TIMEOUT_S, until=name)
    logger.info("control plane up at %s (state in %s)", cluster.server_url, folder)
    return cluster


def down(*, state_dir: pathlib.Path, wipe: bool = False) -> list[str]:
    """Stop the control plane's processes (the newest first); returns the names stopped.

    `wipe` also removes the folder (etcd data, certificates, logs), for a cold start next time.
    """
    folder = folder_of(state_dir)
    record = _read_record(folder)
    stopped = []
    for name in reversed(PROCESSES):
        process = record.get("processes", {}).get(name)
        if process and pids.stop(process, grace_s=STOP_GRACE_S):
            stopped.append(name)
    if record.get("processes"):
        record["processes"] = {}
        _write_record(folder, record)
    if wipe:
        shutil.rmtree(folder, ignore_errors=True)
    return stopped


def _ports(previous: dict[str, int]) -> dict[str, int]:
    """The ports of the last run where they are still free (kubeconfigs handed out keep working), else new ones."""
    chosen = {}
    for name in ("etcd", "etcd_peer", "apiserver"):
        port = previous.get(name)
        chosen[name] = port if port and _is_free(port) else ports.free_port()
    return chosen


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((ports.LOOPBACK, port))
        except OSError:
            return False
    return True


def _admin_token(folder: pathlib.Path) -> str:
    """The admin's static token, made once; the API server reads it from a 0600 file."""
    path = folder / "pki" / "tokens.csv"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(f'{secrets.token_urlsafe(32)},admin,admin,"system:masters"\n')
    return path.read_text().split(",", 1)[0]


def _etcd_args(folder: pathlib.Path, chosen: dict[str, int]) -> list[str]:
    client = f"http://127.0.0.1:{chosen['etcd']}"
    peer = f"http://127.0.0.1:{chosen['etcd_peer']}"
    return [
        "--name=controlplane",
        f"--data-dir={folder / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=controlplane={peer}",
        # As envtest runs it: a test cluster trades crash safety for speed; `down` stops it cleanly.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def _apiserver_args(
    folder: pathlib.Path, chosen: dict[str, int], authority: pki.Pair, serving: pki.Pair, signing: pki.Pair
) -> list[str]:
    return [
        f"--etcd-servers=http://127.0.0.1:{chosen['etcd']}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={chosen['apiserver']}",
        f"--tls-cert-file={serving.cert}",
        f"--tls-private-key-file={serving.key}",
        f"--client-ca-file={authority.cert}",
        f"--token-auth-file={folder / 'pki' / 'tokens.csv'}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={signing.cert}",
        f"--service-account-signing-key-file={signing.key}",
        # RBAC as on EKS: the notebook's ServiceAccount gets exactly what its RoleBindings grant.
        "--authorization-mode=RBAC",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        # No Service endpoints for the API server itself: nothing in-cluster calls it by Service here.
        "--endpoint-reconciler-type=none",
        # Logs and port-forwards reach the node agent at the Node's InternalIP (127.0.0.1).
        "--kubelet-preferred-address-types=InternalIP",
        # The node agent plays a node that is ready from the start; this plugin would taint it not-ready
        # until a kubelet's first status, which the agent reports differently.
        "--disable-admission-plugins=TaintNodesByCondition",
        # As on EKS: privileged pods are the namespace's Pod Security level's call, not the server's.
        "--allow-privileged=true",
        "--profiling=false",
    ]


def _controller_manager_args(cluster: Cluster, authority: pki.Pair, signing: pki.Pair) -> list[str]:
    return [
        f"--kubeconfig={cluster.admin_kubeconfig}",
        f"--controllers={','.join(CONTROLLERS)}",
        f"--root-ca-file={authority.cert}",
        f"--service-account-private-key-file={signing.key}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        # No health endpoint to serve: readiness is checked through what it does (see _wait_ready).
        "--secure-port=0",
        "--profiling=false",
    ]


def _wait_ready(cluster: Cluster, *, record: dict[str, Any], timeout_s: float, until: str = PROCESSES[-1]) -> None:
    """Wait until the processes up to `until` answer; raises ControlPlaneError with the log's tail."""
    deadline = time.monotonic() + timeout_s
    names = PROCESSES[: PROCESSES.index(until) + 1]
    last_error = ""
    while True:
        for name in names:
            process = record["processes"].get(name)
            if process is None or not pids.is_alive(process):
                raise errors.ControlPlaneError(
                    f"{name} exited during start-up:\n{processes.tail(cluster.folder, name)}"
                )
        try:
            _check(cluster, names, etcd_port=record["ports"]["etcd"])
            return
        except (OSError, errors.ControlPlaneError, KeyError) as e:
            last_error = str(e)
        if time.monotonic() > deadline:
            raise errors.ControlPlaneError(
                f"{until} was not ready after {timeout_s:.0f} s ({last_error}):\n"
                + processes.tail(cluster.folder, until)
            )
        time.sleep(POLL_S)


def _check(cluster: Cluster, names: tuple[str, ...], *, etcd_port: int) -> None:
    """One readiness probe of each named process; raises OSError or ControlPlaneError when one is not ready."""
    if "etcd" in names:
        with urllib.request.urlopen(f"http://127.0.0.1:{etcd_port}/health", timeout=2) as answer:
            if not json.loads(answer.read()).get("health") == "true":
                raise errors.ControlPlaneError("etcd is not healthy yet")
    if "kube-apiserver" in names:
        client.request(
            "GET", f"{cluster.server_url}/readyz", token=cluster.admin_token(), ca_file=cluster.ca_file, raw=True
        )
    if "kube-controller-manager" in names:
        # The serviceaccount controller gives every namespace its `default` ServiceAccount.
        url = f"{cluster.server_url}/api/v1/namespaces/default/serviceaccounts/default"
        client.request("GET", url, token=cluster.admin_token(), ca_file=cluster.ca_file)
