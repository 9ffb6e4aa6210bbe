"""Read container logs: of one pod, of the pods a label selector picks, or of one task of a training job.

The training operator (and for a TrainJob, JobSet) labels every task's pod, so the chief's log (where
the training program prints its metrics) can be read without knowing pod names.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from helpers import errors, settings as settings_module
from helpers.cluster import _api, _fetch, _kinds

logger = logging.getLogger(__name__)

# Labels the training operator (v1.9) puts on each replica pod; the replica type is lower-case.
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
# The container a TFJob replica must run its program in (the operator injects TF_CONFIG there).
TFJOB_CONTAINER = "tensorflow"


def pod_logs(
    *,
    api: Any,
    settings: settings_module.Settings,
    pod: str | None = None,
    selector: str | None = None,
    namespace: str | None = None,
    container: str | None = None,
    tail_lines: int | None = None,
) -> dict[str, str]:
    """The logs of pod `pod`, or of every pod matching label `selector`, by pod name.

    Give exactly one of `pod` and `selector`, else ConfigError. `tail_lines` keeps the last lines
    only. A selector that matches nothing returns {}, and a matched pod whose log is gone (404: deleted since,
    or its node removed) is left out with a warning. Raises ClusterError when the server refuses.
    """
    if (pod is None) == (selector is None):
        raise errors.ConfigError("pod/selector", (pod, selector), "give exactly one of a pod name and a selector")
    if tail_lines is not None and tail_lines < 0:
        raise errors.ConfigError("tail_lines", tail_lines, "must be zero or more lines")
    namespace = namespace or settings.namespace
    if pod is not None:
        names = [pod]
    else:
        found = _fetch.list_objects(
            _kinds.by_name("Pod"),
            api=api,
            settings=settings,
            namespace=namespace,
            selector=str(selector),
            action="read logs of",
        )
        names = sorted(item["metadata"]["name"] for item in found)
    query = [("container", container)] if container else []
    if tail_lines is not None:
        query.append(("tailLines", str(tail_lines)))
    logs = {}
    for name in names:
        call = _api.on(
            _kinds.by_name("Pod"), "get", namespace=namespace, name=name, subresource="log", action="read logs of"
        )
        try:
            logs[name] = _api.request_text(api, call, settings=settings, query=query)
        except errors.ClusterError as e:
            # A matched pod whose log is gone: deleted since the list, or its node removed (an autoscaler
            # drains idle nodes soon after a Job ends; the API server then answers 404). It no longer counts.
            if selector is None or e.status != 404:
                raise
            logger.warning("no log of pod %s: %s", name, e)
    return logs


@dataclasses.dataclass(frozen=True)
class TaskPods:
    """How a training API's controllers label the pod of each task, and which container runs the program."""

    kind: str
    """The job's kind, for messages: "TFJob"."""
    job_label: str
    role_label: str
    """The label whose value is the task's role in lower case ("chief", "worker")."""
    index_label: str
    container: str
    gone: str
    """Why a task may have no pod, for the 404."""


TFJOB_PODS = TaskPods(
    kind="TFJob",
    job_label=JOB_NAME_LABEL,
    role_label=REPLICA_TYPE_LABEL,
    index_label=REPLICA_INDEX_LABEL,
    container=TFJOB_CONTAINER,
    gone="it is not scheduled yet, or the job's cleanPodPolicy removed it",
)


def task_log(
    pods: TaskPods,
    job_name: str,
    role: str,
    index: int = 0,
    *,
    api: Any,
    settings: settings_module.Settings,
    namespace: str | None = None,
    tail_lines: int | None = None,
) -> str:
    """The `pods.container` log of task `role` #`index` (e.g. "Chief" or "chief", 0) of job `job_name`.

    Found by the labels `pods` names, so no pod name is needed. Raises ClusterError (status 404) when
    no such pod exists, saying why it may be gone (`pods.gone`).
    """
    namespace = namespace or settings.namespace
    role = role.lower()
    selector = f"{pods.job_label}={job_name},{pods.role_label}={role},{pods.index_label}={index}"
    found = pod_logs(
        api=api,
        settings=settings,
        selector=selector,
        namespace=namespace,
        container=pods.container,
        tail_lines=tail_lines,
    )
    if not found:
        task = f"{pods.kind}/{job_name} {role}-{index} in namespace {namespace}"
        raise errors.ClusterError("read logs of", task, f"no pod is labelled {selector}: {pods.gone}", status=404)
    # Both APIs run one pod per task (a crashed container restarts inside it); were there two, the same one is
    # read every time.
    return found[max(found)]
