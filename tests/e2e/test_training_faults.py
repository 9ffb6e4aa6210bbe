"""Faults on the real control plane: a worker's or the chief's process killed, a worker pod deleted.

A killed process is restarted in place by the node (restartPolicy OnFailure, restartCount 1): a worker
rejoins and the job succeeds, a chief resumes from its last checkpoint in S3. A deleted worker pod is
what training operator v1.9.4 counts as a failed replica (pkg/core/status.go counts a Running pod with
a deletionTimestamp as Failed; the TFJob fails unless `enableDynamicWorker`), so the TFJob fails, as it
would on EKS; the test pins that behaviour down.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from typing import Any

import pytest
from kubernetes import client as k8s_client

from helpers import backends, settings as settings_module, training, workloads
from helpers.local.node import agent

from .conftest import NAMESPACE, WAIT_S

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/kubeflow-mnist/train:faults"
TRAIN_STEPS = 200
# The chief logs and checkpoints every 20 steps (one scheduled chunk), as in tests/faults.
EVERY_STEPS = 20
# Far enough into the run for two checkpoints, far from its end.
FAULT_AT_STEP = 60
ACCURACY_FLOOR = 0.8
_STEP = re.compile(r"\bstep (\d+)/(\d+)\b")


def _job(settings: settings_module.Settings, *, name: str, num_workers: int) -> dict[str, Any]:
    """A fast TFJob of its own `name`: its pods' names, addresses and logs are never an earlier test's.

    A name of its own matters: the node agent keeps a pod's loopback address by its name, so a process
    of an earlier job's pod that is still stopping would hold the new pod's address and port.
    """
    job = workloads.tfjob(
        settings=settings, image=IMAGE, run_id=f"faults-{time.time_ns()}", num_workers=num_workers, num_ps=1,
        train_steps=TRAIN_STEPS, batch_size=32, learning_rate=3e-3, train_subset=2000, test_subset=500,
    )  # fmt: skip
    extra = [f"--log-every-steps={EVERY_STEPS}", f"--checkpoint-every-steps={EVERY_STEPS}"]
    for replica in job["spec"]["tfReplicaSpecs"].values():
        for container in replica["template"]["spec"]["containers"]:
            container["args"] = [*container["args"], *extra]
    job["metadata"]["name"] = name
    return job


def _chief_log(core: k8s_client.CoreV1Api, job: dict[str, Any], **query: Any) -> str:
    name = f"{job['metadata']['name']}-chief-0"
    try:
        return str(core.read_namespaced_pod_log(name, NAMESPACE, _preload_content=False, **query).data.decode())
    except k8s_client.ApiException:
        return ""


def _run_with_fault(
    settings: settings_module.Settings, core: k8s_client.CoreV1Api, job: dict[str, Any], fault: Any
) -> dict[str, Any]:
    """Train `job` in a thread, call `fault()` once the chief logged FAULT_AT_STEP, return the result."""
    backend = backends.get(settings=settings)
    backend.grant_access()
    training.stage_dataset(backend=backend, settings=settings)
    outcome: dict[str, Any] = {}

    def _train() -> None:
        try:
            outcome["status"] = backend.run_training(job)
        except Exception as e:  # handed to the test thread, which raises it
            outcome["error"] = e

    thread = threading.Thread(target=_train, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and thread.is_alive():
        steps = [int(m.group(1)) for m in _STEP.finditer(_chief_log(core, job))]
        if steps and steps[-1] >= FAULT_AT_STEP:
            outcome["fault_at_step"] = steps[-1]
            fault()
            break
        time.sleep(0.5)
    # The pods as last seen before the job ended (a failed TFJob's running pods are deleted at once),
    # their logs read again only when a pod or a restart count changed, not every second.
    seen: list[str] = []
    while thread.is_alive() and time.monotonic() < deadline:
        pods = core.list_namespaced_pod(
            NAMESPACE, label_selector=f"training.kubeflow.org/job-name={job['metadata']['name']}"
        ).items
        if pods and _states(pods) != seen:
            seen, outcome["pods"] = _states(pods), _pods_report(core, pods)
        time.sleep(1)
    thread.join(WAIT_S)
    assert "fault_at_step" in outcome, "the job ended before the fault was injected"
    if "error" not in outcome:
        outcome["result"] = training.record_result(backend=backend, settings=settings, job=job)
    return outcome


def _states(pods: list[Any]) -> list[str]:
    """A line per container: its pod (uid, owner), phase, restarts and last exit code."""
    lines = []
    for pod in pods:
        for status in pod.status.container_statuses or []:
            last = status.last_state.terminated
            lines.append(
                f"{pod.metadata.name} ({pod.metadata.uid[:8]}, owner {pod.metadata.owner_references[0].uid[:8]}): "
                f"phase {pod.status.phase}, restarts {status.restart_count}, "
                f"last exit {last.exit_code if last else None}"
            )
    return lines


def _pods_report(core: k8s_client.CoreV1Api, pods: list[Any]) -> str:
    """Each pod's state with the last lines of its current and previous run, for a failure."""
    lines = [*_states(pods)]
    for pod in pods:
        for previous in (True, False):
            try:
                text = core.read_namespaced_pod_log(
                    pod.metadata.name, NAMESPACE, previous=previous, tail_lines=15, _preload_content=False
                ).data.decode()
            except k8s_client.ApiException as e:
                text = f"({e.status})"
            lines.append(f"--- {pod.metadata.name}, {'previous' if previous else 'current'} run:\n{text}")
    return "\n".join(lines)


@pytest.fixture
def core(admin_api: k8s_client.ApiClient) -> k8s_client.CoreV1Api:
    return k8s_client.CoreV1Api(admin_api)


def _kill(core: k8s_client.CoreV1Api, node: agent.NodeAgent, pod: str) -> None:
    """SIGKILL the container process of `pod` (what the OOM killer or a crash does to a container)."""
    uid = core.read_namespaced_pod(pod, NAMESPACE).metadata.uid
    os.killpg(node.runners[uid].runs["tensorflow"].pid, signal.SIGKILL)


def test_a_killed_worker_restarts_in_place_and_the_job_succeeds(
    editor_settings: settings_module.Settings, core: k8s_client.CoreV1Api, node: agent.NodeAgent
) -> None:
    job = _job(editor_settings, name="mnist-fault-worker-kill", num_workers=2)
    worker = f"{job['metadata']['name']}-worker-1"
    outcome = _run_with_fault(editor_settings, core, job, lambda: _kill(core, node, worker))
    assert "error" not in outcome, f"{outcome['error']}\n{outcome['pods']}"
    result = outcome["result"]
    assert result["steps"] == TRAIN_STEPS and result["test_accuracy"] >= ACCURACY_FLOOR, result


def test_a_deleted_worker_pod_fails_the_tfjob_as_operator_v1_9_counts_it(
    editor_settings: settings_module.Settings, core: k8s_client.CoreV1Api
) -> None:
    job = _job(editor_settings, name="mnist-fault-pod-delete", num_workers=2)
    worker = f"{job['metadata']['name']}-worker-1"
    outcome = _run_with_fault(editor_settings, core, job, lambda: core.delete_namespaced_pod(worker, NAMESPACE))
    assert "error" in outcome, "the job survived a deleted worker pod: the operator's rule changed?"
    assert "1 Worker replica(s) failed" in str(outcome["error"]), outcome["error"]


def test_a_killed_chief_restarts_in_place_and_resumes_from_its_checkpoint(
    editor_settings: settings_module.Settings, core: k8s_client.CoreV1Api, node: agent.NodeAgent
) -> None:
    job = _job(editor_settings, name="mnist-fault-chief-kill", num_workers=1)
    chief = f"{job['metadata']['name']}-chief-0"

    outcome = _run_with_fault(editor_settings, core, job, lambda: _kill(core, node, chief))
    assert "error" not in outcome, f"{outcome['error']}\n{outcome['pods']}"
    result = outcome["result"]
    assert result["steps"] == TRAIN_STEPS and result["test_accuracy"] >= ACCURACY_FLOOR, result
    assert 0 < result["resumed_from"] <= outcome["fault_at_step"], result
    status = core.read_namespaced_pod(chief, NAMESPACE).status.container_statuses[0]
    assert status.restart_count == 1 and status.last_state.terminated.exit_code == 128 + signal.SIGKILL
    assert "(resumed)" in _chief_log(core, job)
    assert "(new)" in _chief_log(core, job, previous=True)
