"""Run a rendered TFJob as local processes, the way the training operator runs it as pods.

One process per replica runs the replica's `tensorflow` container (via `containers`) with
the `TF_CONFIG` the operator would inject, pointing at loopback ports instead of headless
Services. Restart policies, `runPolicy.backoffLimit` and `activeDeadlineSeconds` are
honoured, success follows the operator's rule (chief, else worker 0), and the status is
written in the TFJob's shape. Every replica is stopped at the end: there is no pod to keep,
so `cleanPodPolicy` has no local meaning (the logs stay).
"""

from __future__ import annotations

import json
import logging
import pathlib
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any, TypedDict

from helpers import errors, files, settings as settings_module
from helpers.local import containers, pids, ports, restarts, services, status as status_module, supervisor

logger = logging.getLogger(__name__)

# Spec keys as the operator spells them; manifests may use any case.
REPLICA_TYPES = {"chief": "Chief", "master": "Master", "ps": "PS", "worker": "Worker", "evaluator": "Evaluator"}
CONTAINER_NAME = "tensorflow"
PORT_NAME = "tfjob-port"
DEFAULT_PORT = 2222
PIDS_FILE = "pids.json"
STATUS_FILE = "status.json"

TFJobStatus = status_module.TFJobStatus


class RunOptions(TypedDict, total=False):
    """`run`'s keywords after the settings, for runners that hand them on (`helpers.local.trainjob.run`)."""

    on_line: supervisor.OnLine | None
    timeout_s: float | None
    check: bool
    popen: supervisor.PopenFactory
    port_picker: ports.PortPicker


def tf_config(
    *,
    job_name: str,
    namespace: str,
    replicas: Mapping[str, int],
    task_type: str,
    task_index: int,
    addresses: Mapping[str, list[str]] | None = None,
    port: int = DEFAULT_PORT,
) -> dict[str, Any] | None:
    """The TF_CONFIG the operator injects into replica `task_type`/`task_index`.

    Keys are lower-cased types; on the cluster each address is `<job>-<type>-<i>.<ns>.svc:<port>`,
    locally `addresses[type]` (loopback host:port) replaces them. Returns None when the job
    has one replica in total, as the operator sets no TF_CONFIG then.
    """
    if sum(replicas.values()) == 1:
        return None
    cluster: dict[str, list[str]] = {}
    for replica_type, count in replicas.items():
        key = replica_type.lower()
        if addresses is not None:
            cluster[key] = list(addresses[key])
        else:
            cluster[key] = [f"{job_name}-{key}-{index}.{namespace}.svc:{port}" for index in range(count)]
    return {"cluster": cluster, "task": {"type": task_type.lower(), "index": task_index}, "environment": "cloud"}


def job_dir(name: str, *, settings: settings_module.Settings) -> pathlib.Path:
    """The folder holding a local job's logs, pids and status."""
    return services.local_dir(settings) / "jobs" / name


def read_status(name: str, *, settings: settings_module.Settings) -> dict[str, Any]:
    """The last status written for job `name`; empty when it never ran here."""
    path = job_dir(name, settings=settings) / STATUS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _replica_specs(tfjob: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The replica specs keyed by the operator's spelling; raises ConfigError for an unknown type."""
    specs: dict[str, dict[str, Any]] = {}
    for key, spec in (tfjob.get("spec", {}).get("tfReplicaSpecs") or {}).items():
        if key.lower() not in REPLICA_TYPES:
            known = list(REPLICA_TYPES.values())
            raise errors.ConfigError("tfReplicaSpecs", key, f"unknown replica type; known: {known}")
        specs[REPLICA_TYPES[key.lower()]] = spec
    if not specs:
        raise errors.ConfigError("tfReplicaSpecs", None, "the TFJob has no replica specs")
    return specs


def _tensorflow_container(replica_type: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    pod = spec.get("template", {}).get("spec", {})
    for container in pod.get("containers") or []:
        if container.get("name") == CONTAINER_NAME:
            return dict(container)
    raise errors.ConfigError(
        f"{replica_type}.containers", None, f"a replica needs a container named {CONTAINER_NAME!r}"
    )


def _tf_port(container: Mapping[str, Any]) -> int:
    for declared in container.get("ports") or []:
        if declared.get("name") == PORT_NAME:
            return int(declared["containerPort"])
    return DEFAULT_PORT


def _stop_leftovers(directory: pathlib.Path, *, settings: settings_module.Settings) -> None:
    """Stop what a previous run of this job left behind (its kernel may have been killed), then clear its folder."""
    pids_file = directory / PIDS_FILE
    if pids_file.exists():
        for record in json.loads(pids_file.read_text()).values():
            if pids.stop(record, grace_s=settings.stop_grace_s):
                logger.info("stopped leftover replica pid %s of a previous run", record["pid"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


class _Job:
    """One local run of a TFJob: its replicas, their loopback addresses, pids and status."""

    def __init__(self, tfjob: Mapping[str, Any], *, settings: settings_module.Settings) -> None:
        metadata = tfjob.get("metadata", {})
        self.name: str = metadata["name"]
        self.namespace: str = metadata.get("namespace") or settings.namespace
        # A TrainJob run through this runner (helpers.local.trainjob) is named as what it is.
        self.title = f"{tfjob.get('kind') or 'TFJob'} {self.namespace}/{self.name}"
        self.settings = settings
        self.specs = _replica_specs(tfjob)
        self.run_policy: dict[str, Any] = tfjob.get("spec", {}).get("runPolicy") or {}
        self.counts = {replica_type: int(spec.get("replicas", 1)) for replica_type, spec in self.specs.items()}
        # Replica name ("worker-1", as in the pod name <job>-worker-1) -> (type, index).
        self.replicas = {f"{t.lower()}-{i}": (t, i) for t, count in self.counts.items() for i in range(count)}
        self.directory = job_dir(self.name, settings=settings)
        self.owner = f"tfjob/{self.name}"
        self.status = TFJobStatus()
        self.records: dict[str, pids.ProcessRecord] = {}
        self.group: supervisor.Supervisor | None = None

    def restart_policy(self, replica_type: str) -> restarts.RestartPolicy:
        """The replica spec's restartPolicy (TFJob default Never); one in the pod template is ignored."""
        policy: restarts.RestartPolicy = self.specs[replica_type].get("restartPolicy", "Never")
        return policy

    def decisive(self) -> str:
        """The replica whose success is the job's: chief (or master) 0, else worker 0."""
        chief = next((t for t in ("Chief", "Master") if self.counts.get(t)), "Worker")
        return f"{chief.lower()}-0"

    def prepare(self, group: supervisor.Supervisor) -> None:
        """Give each replica a loopback port, register its headless Service and add its process."""
        self.group = group
        local_ports = {replica: group.pick_port() for replica in self.replicas}
        addresses = {
            t.lower(): [f"127.0.0.1:{local_ports[f'{t.lower()}-{i}']}" for i in range(n)]
            for t, n in self.counts.items()
        }
        containers_by_replica = {r: _tensorflow_container(t, self.specs[t]) for r, (t, _) in self.replicas.items()}
        for replica, container in containers_by_replica.items():
            services.register(
                settings=self.settings,
                name=f"{self.name}-{replica}",
                namespace=self.namespace,
                owner=self.owner,
                ports={_tf_port(container): local_ports[replica]},
            )
        for replica_type, spec in self.specs.items():
            if spec.get("template", {}).get("spec", {}).get("restartPolicy"):
                logger.warning("%s: restartPolicy in the pod template is ignored (the operator sets it)", replica_type)
        for replica, container in containers_by_replica.items():
            replica_type, index = self.replicas[replica]
            config = tf_config(
                job_name=self.name,
                namespace=self.namespace,
                replicas=self.counts,
                task_type=replica_type,
                task_index=index,
                addresses=addresses,
            )
            process = containers.translate(
                container,
                name=replica,
                settings=self.settings,
                assigned_ports={_tf_port(container): local_ports[replica]},
                extra_env={"TF_CONFIG": json.dumps(config)} if config else None,
                port_picker=group.pick_port,
            )
            group.add(
                process.spec, restart_policy=self.restart_policy(replica_type), decisive=replica == self.decisive()
            )

    def on_event(self, replica: str, event: str, detail: int) -> None:
        """Follow supervisor events: record pids, flip Running/Restarting, rewrite the status."""
        if event == "started":
            self.records[replica] = pids.record(detail, [])
            files.write_json(self.directory / PIDS_FILE, self.records)
        if event == "restarting":
            self.status.set_condition(
                "Restarting", f"{self.title} is restarting because {replica} exited with code {detail}."
            )
        if event == "started" and self.group and all(s == "running" for s in self.group.states().values()):
            self.status.set_condition("Running", f"{self.title} is running.")
        self.write()

    def failure_message(self, failed: errors.ProcessFailed) -> str:
        """Why the job failed, in the operator's words."""
        limit = self.run_policy.get("backoffLimit")
        replica_type = self.replicas[failed.name][0]
        retried = restarts.retryable(self.restart_policy(replica_type), failed.exit_code)
        if retried and limit is not None and self.group and self.group.restarts_total >= limit:
            return f"{self.title} has failed because it has reached the specified backoff limit"
        return f"{self.title} has failed because 1 {replica_type} replica(s) failed (exit code {failed.exit_code})."

    def write(self) -> None:
        """Recount replicas per type and write status.json."""
        states = self.group.states() if self.group else {}
        for replica_type in self.counts:
            mine = [state for replica, state in states.items() if self.replicas[replica][0] == replica_type]
            self.status.count(
                replica_type,
                active=sum(state in ("running", "restarting") for state in mine),
                succeeded=mine.count("succeeded"),
                failed=mine.count("failed"),
            )
        self.status.write(self.directory / STATUS_FILE)


def run(
    tfjob: Mapping[str, Any],
    *,
    settings: settings_module.Settings,
    on_line: supervisor.OnLine | None = None,
    timeout_s: float | None = None,
    check: bool = True,
    popen: supervisor.PopenFactory = subprocess.Popen,
    port_picker: ports.PortPicker = ports.free_port,
) -> TFJobStatus:
    """Run the rendered `tfjob` to completion as local processes and return its final status.

    Re-running a job name replaces the previous run. Raises ProcessFailed when the job
    failed and WaitTimeout when it passed activeDeadlineSeconds (unless `check` is False: then
    the Failed status is returned); WaitTimeout after `timeout_s` always; ConfigError for a
    spec it cannot run. No replica outlives the call, even on KeyboardInterrupt or SIGTERM.
    """
    job = _Job(tfjob, settings=settings)
    _stop_leftovers(job.directory, settings=settings)
    group = supervisor.Supervisor(
        settings=settings,
        log_dir=job.directory,
        on_line=on_line,
        on_event=job.on_event,
        backoff_limit=job.run_policy.get("backoffLimit"),
        port_picker=port_picker,
        popen=popen,
    )
    deadline_s = job.run_policy.get("activeDeadlineSeconds")
    limit_s = min((s for s in (deadline_s, timeout_s) if s is not None), default=None)
    job.status.set_condition("Created", f"{job.title} is created.")
    try:
        job.prepare(group)
        job.write()
        with supervisor.interrupt_on_sigterm():
            group.start()
            group.wait(timeout_s=limit_s)
        job.status.set_condition("Succeeded", f"{job.title} successfully completed.")
    except errors.ProcessFailed as e:
        job.status.set_condition("Failed", job.failure_message(e))
        if check:
            raise
    except errors.WaitTimeout:
        if limit_s != deadline_s:
            job.status.set_condition("Failed", f"{job.title} was stopped after waiting {timeout_s} s.")
            raise
        message = f"{job.title} has failed because it was active longer than specified deadline"
        job.status.set_condition("Failed", message, reason="DeadlineExceeded")
        if check:
            raise
    except errors.ConfigError as e:
        job.status.set_condition("Failed", f"{job.title} cannot run locally: {e}")
        raise
    except BaseException as e:
        # KeyboardInterrupt (a notebook's stop button, or SIGTERM) and anything unexpected.
        job.status.set_condition("Failed", f"{job.title} was interrupted ({type(e).__name__}); replicas stopped.")
        raise
    finally:
        group.stop()
        services.remove_owned(settings=settings, owner=job.owner)
        (job.directory / PIDS_FILE).unlink(missing_ok=True)
        job.write()
    return job.status
