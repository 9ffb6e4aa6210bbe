"""Run a TrainJob (Kubeflow Trainer v2) locally by turning it and its runtime into the TFJob replicas it means.

Trainer v2.3 copies `spec.trainer` (image, command, args, env) into the `node` container of every replicated
job labelled as a trainer step, and `numNodes` into the pod count of the first one; JobSet then runs each
replicated job as an Indexed Job whose success policy (here: the chief) ends the whole set. `replica_specs`
applies those rules to the runtime, and the TFJob runner runs the result, so both APIs share one executor:
the same processes, the same TF_CONFIG (the one model/tf_config.py builds from JobSet's names, with loopback
addresses), the same restart policy and the same rule for success.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any, Unpack

from helpers import errors, settings as settings_module
from helpers.local import tfjob as local_tfjob

logger = logging.getLogger(__name__)

ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
TRAINER_STEP = "trainer"
TRAINER_CONTAINER = "node"
# The runtime's replicated jobs and the TFJob replica types they are; also TF_CONFIG's order.
ROLES = {"chief": "Chief", "ps": "PS", "worker": "Worker"}
# The env model/tf_config.py reads the task counts from; they must match the pod counts.
COUNT_ENV = {"ps": "TF_NUM_PS", "worker": "TF_NUM_WORKERS"}
# A batch Job's backoffLimit when its spec names none (Kubernetes' default).
JOB_BACKOFF_LIMIT = 6


def _upsert_env(container: dict[str, Any], env: list[dict[str, Any]]) -> None:
    """Add `env` to the container's, replacing variables of the same name (Trainer's UpsertEnvVars)."""
    merged = {variable["name"]: variable for variable in container.get("env") or []}
    merged.update({variable["name"]: variable for variable in env})
    container["env"] = list(merged.values())


def _node_container(role: str, pod: Mapping[str, Any]) -> dict[str, Any]:
    for container in pod.get("spec", {}).get("containers") or []:
        if container.get("name") == TRAINER_CONTAINER:
            return dict(container)
    raise errors.ConfigError(
        f"replicatedJobs[{role}].containers", None, f"needs a container named {TRAINER_CONTAINER!r}"
    )


def _check_counts(role: str, count: int, container: Mapping[str, Any]) -> None:
    """The count model/tf_config.py reads for a role (TF_NUM_*, 1 when unset; the chief is always 1) must be its
    pod count, or TF_CONFIG lists tasks that do not exist."""
    if role == "chief":
        if count != 1:
            raise errors.ConfigError("replicatedJobs[chief].parallelism", count, "a TensorFlow job has one chief")
        return
    variable = COUNT_ENV[role]
    values = [str(item.get("value")) for item in container.get("env") or [] if item.get("name") == variable]
    read = values[-1] if values else "1"
    if read != str(count):
        raise errors.ConfigError(
            "num_ps" if role == "ps" else "num_workers",
            read,
            f"{variable} does not match the {count} {role} pod(s) the runtime and the TrainJob give",
        )


def replica_specs(trainjob: Mapping[str, Any], runtime: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The TFJob replica specs (Chief, PS, Worker) that `trainjob` on `runtime` runs, as Trainer v2.3 builds them.

    The container is renamed `tensorflow` and the pod's restartPolicy and the Job's backoffLimit move to
    the replica spec, where the TFJob runner reads them. Raises ConfigError for a runtime this tutorial's
    TensorFlow topology cannot run, or TF_NUM_PS/TF_NUM_WORKERS that disagree with the pod counts.
    """
    reference = trainjob.get("spec", {}).get("runtimeRef") or {}
    runtime_name = runtime.get("metadata", {}).get("name")
    if reference.get("name") != runtime_name or runtime.get("kind") != reference.get("kind", "ClusterTrainingRuntime"):
        raise errors.ConfigError("runtimeRef", reference, f"this run has the {runtime.get('kind')} {runtime_name!r}")
    jobset = copy.deepcopy(runtime["spec"]["template"]["spec"])
    targets = (jobset.get("successPolicy") or {}).get("targetReplicatedJobs")
    if targets != ["chief"]:
        raise errors.ConfigError("successPolicy.targetReplicatedJobs", targets, "the chief alone must decide success")
    trainer = trainjob.get("spec", {}).get("trainer") or {}
    specs: dict[str, dict[str, Any]] = {}
    first_trainer_step = True
    for replicated in jobset.get("replicatedJobs") or []:
        role = replicated["name"]
        if role not in ROLES:
            raise errors.ConfigError("replicatedJobs", role, f"a TensorFlow runtime's jobs are {list(ROLES)}")
        job_spec = replicated["template"]["spec"]
        pod = job_spec["template"]
        container = _node_container(role, pod)
        count = int(job_spec.get("parallelism", 1))
        if (replicated["template"].get("metadata", {}).get("labels") or {}).get(ANCESTOR_LABEL) == TRAINER_STEP:
            container.update({key: trainer[key] for key in ("image", "command", "args") if key in trainer})
            _upsert_env(container, trainer.get("env") or [])
            if first_trainer_step and trainer.get("numNodes") is not None:
                count = int(trainer["numNodes"])
            first_trainer_step = False
        _check_counts(role, count, container)
        container["name"] = local_tfjob.CONTAINER_NAME
        container["ports"] = [{**port, "name": local_tfjob.PORT_NAME} for port in container.get("ports") or []]
        pod_spec = {key: value for key, value in pod["spec"].items() if key != "restartPolicy"}
        pod_spec["containers"] = [container]
        specs[ROLES[role]] = {
            "replicas": count,
            # JobSet's webhook defaults a pod's restartPolicy to OnFailure.
            "restartPolicy": pod["spec"].get("restartPolicy", "OnFailure"),
            "backoffLimit": int(job_spec.get("backoffLimit", JOB_BACKOFF_LIMIT)),
            "template": {"metadata": pod.get("metadata") or {}, "spec": pod_spec},
        }
    if set(specs) != set(ROLES.values()):
        raise errors.ConfigError("replicatedJobs", sorted(specs), f"a TensorFlow runtime needs {list(ROLES)}")
    return {kind: specs[kind] for kind in ROLES.values()}


def as_tfjob(trainjob: Mapping[str, Any], runtime: Mapping[str, Any]) -> dict[str, Any]:
    """The TFJob-shaped job the runner executes for `trainjob` on `runtime` (see `replica_specs`).

    Each Job's backoffLimit counts alone on a cluster; the runner has one for the whole job, the smallest.
    """
    specs = replica_specs(trainjob, runtime)
    run_policy: dict[str, Any] = {"backoffLimit": min(spec.pop("backoffLimit") for spec in specs.values())}
    if trainjob.get("spec", {}).get("activeDeadlineSeconds"):
        run_policy["activeDeadlineSeconds"] = int(trainjob["spec"]["activeDeadlineSeconds"])
    return {
        "apiVersion": trainjob.get("apiVersion"),
        "kind": "TrainJob",
        "metadata": copy.deepcopy(dict(trainjob.get("metadata") or {})),
        "spec": {"runPolicy": run_policy, "tfReplicaSpecs": specs},
    }


def trainjob_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """A TFJob-shaped local status in TrainJob's words: Complete or Failed, and counts per replicated job."""
    renamed = {"Succeeded": "Complete", "Failed": "Failed"}
    # JobSet's reasons, which Trainer copies; a deadline keeps Trainer's own DeadlineExceeded.
    reasons = {"Complete": "AllJobsCompleted", "Failed": "FailedJobs"}
    conditions = []
    for condition in status.get("conditions") or []:
        if condition.get("type") in renamed:
            kind = renamed[condition["type"]]
            reason = condition.get("reason") if condition.get("reason") == "DeadlineExceeded" else reasons[kind]
            conditions.append({**condition, "type": kind, "reason": reason})
    roles = {kind: role for role, kind in ROLES.items()}
    jobs = [
        {
            "name": roles.get(kind, kind.lower()),
            **{key: int(counts.get(key, 0)) for key in ("active", "succeeded", "failed")},
        }
        for kind, counts in (status.get("replicaStatuses") or {}).items()
    ]
    return {"conditions": conditions, "jobsStatus": jobs}


def run(
    trainjob: Mapping[str, Any],
    *,
    runtime: Mapping[str, Any],
    settings: settings_module.Settings,
    **options: Unpack[local_tfjob.RunOptions],
) -> dict[str, Any]:
    """Run `trainjob` on `runtime` to its end as local processes; returns its status in TrainJob's shape.

    The TFJob runner does the work (see `helpers.local.tfjob.run` for the options and what it raises); logs and
    pids live in the same job folder, so `replica_logs` and clean-up find them as for a TFJob.
    """
    job = as_tfjob(trainjob, runtime)
    status = local_tfjob.run(job, settings=settings, **options)
    return trainjob_status(status.to_dict())
