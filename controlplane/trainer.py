"""Run the real JobSet controller (v0.12) and Kubeflow Trainer v2 (v2.3) against the control plane.

JobSet's mutating webhook fills the successPolicy, network and startupPolicy its controller relies on,
so both controllers' webhooks are served on 127.0.0.1 with a certificate from the control plane's CA
and registered by URL (as envtest does); their own certificate management is off. Both run detached
with the admin kubeconfig (on a cluster their ClusterRoles are bound to their ServiceAccounts), with
pid records and logs under the control plane's folder. `up` also does an administrator's one-time
steps: the `tensorflow-ps` ClusterTrainingRuntime and Trainer's read binding for runtimes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import pathlib
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

import yaml

from controlplane import build, cluster as cluster_module, errors, pki, processes, profile
from helpers import files
from helpers.local import pids, ports

logger = logging.getLogger(__name__)

FOLDER = "trainer"
RECORD = "trainer.json"
PROCESSES = ("jobset", "trainer-controller-manager")
# A cold start lists every watched kind once and starts its webhook server: seconds when idle, more on a
# busy 2-core machine; two minutes leaves room without hiding a hang.
READY_TIMEOUT_S = 120.0
# Both shut down within a second when idle; more only delays a test session's end.
STOP_GRACE_S = 10.0
POLL_S = 0.2
REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
RUNTIME_MANIFEST = REPOSITORY / "manifests" / "tf-ps-runtime.yaml"
FIELD_MANAGER = "kubeflow-mnist-controlplane"
APPLY = "application/apply-patch+yaml"
WEBHOOKS_API = "/apis/admissionregistration.k8s.io/v1"
# Only JobSet's own pods pass its pod webhooks (its config/components/webhook/patches).
JOBSET_PODS = {"matchExpressions": [{"key": "jobset.sigs.k8s.io/jobset-name", "operator": "Exists"}]}
# Trainer's runtime validators skip objects labelled so (its manifests/base/webhook/patch_validating.yaml).
TRAINER_VALIDATION = {
    "matchExpressions": [
        {"key": "trainer.kubeflow.org/webhook-validation", "operator": "NotIn", "values": ["disabled"]}
    ]
}
# (configuration kind, name, [(webhook name, path, group, resource, operations, objectSelector)]): from
# sigs.k8s.io/jobset v0.12.0 config/components/webhook/ and kubeflow/trainer v2.3.0 manifests/base/webhook/,
# with the names their kustomizations give them.
JOBSET_WEBHOOKS = (
    ("MutatingWebhookConfiguration", "jobset-mutating-webhook-configuration", (
        ("mjobset.kb.io", "/mutate-jobset-x-k8s-io-v1alpha2-jobset", "jobset.x-k8s.io", "jobsets", ("CREATE",), None),
        ("mpod.kb.io", "/mutate--v1-pod", "", "pods", ("CREATE",), JOBSET_PODS),
    )),
    ("ValidatingWebhookConfiguration", "jobset-validating-webhook-configuration", (
        ("vjobset.kb.io", "/validate-jobset-x-k8s-io-v1alpha2-jobset", "jobset.x-k8s.io", "jobsets",
         ("CREATE", "UPDATE"), None),
        ("vpod.kb.io", "/validate--v1-pod", "", "pods", ("CREATE",), JOBSET_PODS),
    )),
)  # fmt: skip
TRAINER_WEBHOOKS = (
    ("MutatingWebhookConfiguration", "defaulter.trainer.kubeflow.org", (
        ("defaulter.trainjob.trainer.kubeflow.org", "/mutate-trainer-kubeflow-org-v1alpha1-trainjob",
         "trainer.kubeflow.org", "trainjobs", ("CREATE", "UPDATE"), None),
    )),
    ("ValidatingWebhookConfiguration", "validator.trainer.kubeflow.org", (
        ("validator.clustertrainingruntime.trainer.kubeflow.org",
         "/validate-trainer-kubeflow-org-v1alpha1-clustertrainingruntime", "trainer.kubeflow.org",
         "clustertrainingruntimes", ("CREATE", "UPDATE"), TRAINER_VALIDATION),
        ("validator.trainingruntime.trainer.kubeflow.org",
         "/validate-trainer-kubeflow-org-v1alpha1-trainingruntime", "trainer.kubeflow.org", "trainingruntimes",
         ("CREATE", "UPDATE"), TRAINER_VALIDATION),
        ("validator.trainjob.trainer.kubeflow.org", "/validate-trainer-kubeflow-org-v1alpha1-trainjob",
         "trainer.kubeflow.org", "trainjobs", ("CREATE", "UPDATE"), None),
    )),
)  # fmt: skip
WEBHOOKS = {"jobset": JOBSET_WEBHOOKS, "trainer-controller-manager": TRAINER_WEBHOOKS}
# Trainer's kubeflow-platform overlay (manifests/overlays/kubeflow-platform/kubeflow-trainer-roles.yaml):
# every authenticated user may read ClusterTrainingRuntimes; kubeflow-edit itself only reads namespaced ones.
RUNTIME_READERS = "kubeflow-trainer-view-cluster-runtimes"
# The log line (controller-runtime's, JSON or console) that says a controller reconciles.
STARTED = "Starting workers"
CONTROLLER_NAMES = {"jobset": '"jobset"', "trainer-controller-manager": "trainjob"}


def folder_of(cluster: cluster_module.Cluster) -> pathlib.Path:
    """Certificates, configuration and the pid record of the two controllers (logs go to the cluster's logs/)."""
    return cluster.folder / FOLDER


def _read_record(cluster: cluster_module.Cluster) -> dict[str, Any]:
    try:
        record: dict[str, Any] = json.loads((folder_of(cluster) / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    return record


def status(cluster: cluster_module.Cluster) -> dict[str, bool]:
    """Which of the two controllers run, by name."""
    processes = _read_record(cluster).get("processes", {})
    return {name: name in processes and pids.is_alive(processes[name]) for name in PROCESSES}


def up(cluster: cluster_module.Cluster, *, timeout_s: float = READY_TIMEOUT_S) -> dict[str, float]:
    """Start JobSet, then Trainer (their CRDs installed first), with their webhooks, and install the runtime.

    Idempotent: controllers that run and answer are kept, their webhooks pointed at them again.

    Returns the seconds each took to become ready (empty when both were running already). Raises
    ControlPlaneError (with the log's tail) when a controller exits or is not ready in `timeout_s`.
    """
    previous = _read_record(cluster)
    if previous and all(status(cluster).values()):
        with contextlib.suppress(errors.ControlPlaneError, OSError, KeyError):
            for name in PROCESSES:
                _register(cluster, name, previous["ports"][name]["webhook"])
                _wait_ready(cluster, name, previous, timeout_s=POLL_S * 10)
            _administrator_steps(cluster)
            logger.info("JobSet and Trainer already running")
            return {}
    down(cluster)
    # Trainer watches JobSets and runtimes from its start: their CRDs first (a no-op when installed).
    profile.ensure_crds(cluster)
    folder = folder_of(cluster)
    authority = pki.ca(cluster.folder / "pki")
    record: dict[str, Any] = {"ports": {}, "processes": {}, "log_offsets": {}}
    timings: dict[str, float] = {}
    for name in PROCESSES:
        started = time.monotonic()
        record["ports"][name] = {"webhook": ports.free_port(), "health": ports.free_port()}
        argv = _argv(cluster, name, record["ports"][name], authority, folder)
        _register(cluster, name, record["ports"][name]["webhook"])
        record["log_offsets"][name] = _log_size(cluster, name)
        record["processes"][name] = processes.start(name, argv, folder=cluster.folder)
        files.write_json(folder / RECORD, record)
        try:
            _wait_ready(cluster, name, record, timeout_s=timeout_s)
        except errors.ControlPlaneError:
            down(cluster)  # no process left behind, and no fail-closed webhook pointing at nothing
            raise
        timings[name] = time.monotonic() - started
        logger.info(
            "%s ready in %.1f s (webhook on 127.0.0.1:%s)", name, timings[name], record["ports"][name]["webhook"]
        )
    _administrator_steps(cluster)
    return timings


def down(cluster: cluster_module.Cluster) -> list[str]:
    """Stop both controllers (Trainer first) and unregister their webhooks; returns the names stopped.

    The webhooks go too: they fail closed, so a stopped controller would otherwise refuse every TrainJob
    and JobSet. The runtime, the read binding and what the controllers made stay.
    """
    record = _read_record(cluster)
    stopped = []
    for name in reversed(PROCESSES):
        process = record.get("processes", {}).get(name)
        if process and pids.stop(process, grace_s=STOP_GRACE_S):
            stopped.append(name)
    if record.get("processes"):
        files.write_json(folder_of(cluster) / RECORD, {**record, "processes": {}})
    # The processes go first: an API server that is already down must not keep them running.
    with contextlib.suppress(OSError):
        for name in reversed(PROCESSES):
            for kind, configuration, _ in WEBHOOKS[name]:
                _delete(cluster, f"{WEBHOOKS_API}/{kind.lower()}s/{configuration}")
    return stopped


def _argv(
    cluster: cluster_module.Cluster, name: str, chosen: dict[str, int], authority: pki.Pair, folder: pathlib.Path
) -> list[str]:
    """The command line of `name`, after writing its configuration file and serving certificate."""
    serving = pki.serving(authority, folder / "pki", f"{name}-webhook")
    cert_dir = folder / f"{name}-certs"
    cert_dir.mkdir(parents=True, exist_ok=True)
    for source, target in ((serving.cert, "tls.crt"), (serving.key, "tls.key")):
        (cert_dir / target).touch(mode=0o600, exist_ok=True)
        (cert_dir / target).write_bytes(source.read_bytes())
    if name == "jobset":
        config: dict[str, Any] = {
            "apiVersion": "config.jobset.x-k8s.io/v1alpha1",
            "kind": "Configuration",
            "webhook": {"port": chosen["webhook"], "host": "127.0.0.1", "certDir": str(cert_dir)},
            "internalCertManagement": {"enable": False},
            "leaderElection": {"leaderElect": False},
            "metrics": {"bindAddress": "0"},
            "health": {"healthProbeBindAddress": f"127.0.0.1:{chosen['health']}"},
        }
    else:
        config = {
            "apiVersion": "config.trainer.kubeflow.org/v1alpha1",
            "kind": "Configuration",
            "webhook": {"port": chosen["webhook"], "host": "127.0.0.1"},
            "certManagement": {"enable": False},
            "metrics": {"bindAddress": "0"},
            "health": {"healthProbeBindAddress": f"127.0.0.1:{chosen['health']}"},
        }
    config_path = folder / f"{name}-config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = [str(build.binary(name)), f"--config={config_path}", f"--kubeconfig={cluster.admin_kubeconfig}"]
    if name == "trainer-controller-manager":
        # Trainer's webhook server takes no certificate folder from its configuration: controller-runtime's
        # default, $TMPDIR/k8s-webhook-server/serving-certs, is set through the environment.
        temporary = folder / "tmp"
        (temporary / "k8s-webhook-server").mkdir(parents=True, exist_ok=True)
        link = temporary / "k8s-webhook-server" / "serving-certs"
        if not link.is_symlink():
            link.symlink_to(cert_dir)
        argv = ["env", f"TMPDIR={temporary}", *argv]
    return argv


def _register(cluster: cluster_module.Cluster, name: str, port: int) -> None:
    """Register (or point anew) the webhooks of `name` at https://127.0.0.1:`port`, with the CA as caBundle."""
    ca_bundle = base64.b64encode(cluster.ca_file.read_bytes()).decode()
    for kind, configuration, hooks in WEBHOOKS[name]:
        webhooks = []
        for hook_name, path, group, resource, operations, selector in hooks:
            webhook: dict[str, Any] = {
                "name": hook_name,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca_bundle},
                "rules": [
                    {
                        "apiGroups": [group],
                        "apiVersions": ["v1" if group == "" else _version(group)],
                        "operations": list(operations),
                        "resources": [resource],
                    }
                ],
            }
            if selector:
                webhook["objectSelector"] = selector
            webhooks.append(webhook)
        body = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": configuration},
            "webhooks": webhooks,
        }
        _apply(cluster, f"{WEBHOOKS_API}/{kind.lower()}s/{configuration}", body)


def _version(group: str) -> str:
    return {"jobset.x-k8s.io": "v1alpha2", "trainer.kubeflow.org": "v1alpha1"}[group]


def _administrator_steps(cluster: cluster_module.Cluster) -> None:
    """Install the `tensorflow-ps` runtime (through Trainer's validating webhook) and the runtimes' read binding."""
    runtime = yaml.safe_load(RUNTIME_MANIFEST.read_text())
    name = runtime["metadata"]["name"]
    _apply(cluster, f"/apis/trainer.kubeflow.org/v1alpha1/clustertrainingruntimes/{name}", runtime)
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    _apply(
        cluster,
        f"{rbac}/clusterroles/{RUNTIME_READERS}",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": RUNTIME_READERS},
            "rules": [
                {
                    "apiGroups": ["trainer.kubeflow.org"],
                    "resources": ["clustertrainingruntimes"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
    )
    _apply(
        cluster,
        f"{rbac}/clusterrolebindings/{RUNTIME_READERS}",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": RUNTIME_READERS},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RUNTIME_READERS},
            "subjects": [{"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )


def _apply(cluster: cluster_module.Cluster, path: str, body: dict[str, Any]) -> None:
    cluster.request("PATCH", f"{path}?fieldManager={FIELD_MANAGER}&force=true", body=body, content_type=APPLY)


def _delete(cluster: cluster_module.Cluster, path: str) -> None:
    try:
        cluster.request("DELETE", path)
    except errors.ControlPlaneError as e:
        if "HTTP 404" not in str(e):
            raise


def _wait_ready(cluster: cluster_module.Cluster, name: str, record: dict[str, Any], *, timeout_s: float) -> None:
    """Wait until `name` is ready (its /readyz), serves every webhook path and its controller runs.

    Raises ControlPlaneError with its log's tail when it exits or the time is up.
    """
    deadline = time.monotonic() + timeout_s
    chosen = record["ports"][name]
    last_error = ""
    while True:
        if not pids.is_alive(record["processes"][name]):
            raise errors.ControlPlaneError(f"{name} exited during start-up:\n{processes.tail(cluster.folder, name)}")
        try:
            _check(cluster, name, chosen, log_offset=record.get("log_offsets", {}).get(name, 0))
            return
        except (OSError, errors.ControlPlaneError) as e:
            last_error = str(e)
        if time.monotonic() > deadline:
            raise errors.ControlPlaneError(
                f"{name} was not ready after {timeout_s:.0f} s ({last_error}):\n" + processes.tail(cluster.folder, name)
            )
        time.sleep(POLL_S)


def _log_size(cluster: cluster_module.Cluster, name: str) -> int:
    """Where this start's lines begin in the log, which every start appends to."""
    try:
        return (cluster.folder / "logs" / f"{name}.log").stat().st_size
    except OSError:
        return 0


def _check(cluster: cluster_module.Cluster, name: str, chosen: dict[str, int], *, log_offset: int) -> None:
    """One readiness probe; raises OSError or ControlPlaneError when `name` is not ready yet."""
    with urllib.request.urlopen(f"http://127.0.0.1:{chosen['health']}/readyz", timeout=2) as answer:
        answer.read()
    # A registered webhook path answers an empty review with 200 (a refusal inside); an unregistered one 404.
    context = ssl.create_default_context(cafile=str(cluster.ca_file))
    for _, _, hooks in WEBHOOKS[name]:
        for hook in hooks:
            request = urllib.request.Request(
                f"https://127.0.0.1:{chosen['webhook']}{hook[1]}",
                data=b"{}",
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, context=context, timeout=2) as answer:
                    answer.read()
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise errors.ControlPlaneError(f"{name} does not serve {hook[1]} yet") from e
    with (cluster.folder / "logs" / f"{name}.log").open("rb") as log_file:
        log_file.seek(log_offset)
        log = log_file.read().decode(errors="replace")
    if not any(STARTED in line and CONTROLLER_NAMES[name] in line for line in log.splitlines()):
        raise errors.ControlPlaneError(f"{name}'s controller has not started yet")
