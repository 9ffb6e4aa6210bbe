"""Wait for a TrainJob (Kubeflow Trainer v2) to end, and read its tasks' logs by JobSet's labels.

Trainer turns a TrainJob into a JobSet whose success policy ends it (here: when the chief succeeds) and
copies the JobSet's Completed or Failed condition into the TrainJob as Complete or Failed. Pods are
named by the Job controller, so logs are found by the labels JobSet and the Job controller put on them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from helpers import settings as settings_module
from helpers.cluster import _kinds, _poll, logs, wait

logger = logging.getLogger(__name__)

# Labels JobSet puts on every pod it makes, and the one the Job controller adds to an Indexed Job's pods.
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
REPLICATED_JOB_LABEL = "jobset.sigs.k8s.io/replicatedjob-name"
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
# Trainer copies TrainJob.spec.trainer into the container of this name.
TRAINER_CONTAINER = "node"
TRAINJOB_PODS = logs.TaskPods(
    kind="TrainJob",
    job_label=JOBSET_NAME_LABEL,
    role_label=REPLICATED_JOB_LABEL,
    index_label=COMPLETION_INDEX_LABEL,
    container=TRAINER_CONTAINER,
    gone="it has not started yet, or JobSet deleted it when the job finished",
)

Status = dict[str, Any]
OnChange = Callable[[Status], None]


def wait_for_trainjob(
    name: str,
    *,
    api: Any,
    settings: settings_module.Settings,
    timeout_s: float | None = None,
    on_change: OnChange | None = None,
    interval_s: float = _poll.POLL_INITIAL_S,
) -> Status:
    """Wait until TrainJob `name` is Complete (its JobSet's success policy: the chief); returns its status.

    `on_change(status)` is called whenever the status changes. Raises ClusterError with Trainer's reason
    and message when it Failed (a Job past its backoffLimit, DeadlineExceeded), WaitTimeout after `timeout_s`.
    """
    return wait.wait_for(
        _kinds.by_name("TrainJob"),
        name,
        wait.until_condition("Complete"),
        lambda found: describe(dict(found.get("status") or {})),
        api=api,
        settings=settings,
        timeout_s=timeout_s,
        on_change=on_change,
        interval_s=interval_s,
    )


def describe(status: Status) -> str:
    """A TrainJob status in one line: its latest true condition and the pods of each replicated job."""
    conditions = [c for c in status.get("conditions") or [] if c.get("status") == "True"]
    latest = f"{conditions[-1]['type']} ({conditions[-1].get('message', '')})" if conditions else "no condition yet"
    jobs = "; ".join(
        f"{job.get('name')}: " + ", ".join(f"{key} {job.get(key) or 0}" for key in ("active", "succeeded", "failed"))
        for job in status.get("jobsStatus") or []
    )
    return latest + (f"; jobs {jobs}" if jobs else "")
