"""Faults a real TFJob survives on the local backend: a worker, the chief or a parameter server killed mid-run.

Each test renders notebook 03's TFJob (manifests/tfjob.yaml: every replica `restartPolicy: OnFailure`,
`backoffLimit: 3`), runs it with `helpers.local.tfjob.run` on a small MNIST subset, SIGKILLs one
replica's process group once the chief has logged a given step, and checks how the job ends, within
a hard timeout and with no replica process left behind.
"""

from __future__ import annotations

import re

import pytest

from helpers import settings as settings_module
from helpers.local import tfjob

from .conftest import JOB_TIMEOUT_S, FaultInjector, render_job, replica_log, survivors

pytestmark = pytest.mark.slow

# workloads.tfjob names the job `<app_name>-train`; the job folder and replica logs go by that name.
JOB_NAME = "mnist-train"
TRAIN_STEPS = 200
# The chief logs (and may checkpoint) every 20 steps: one scheduled chunk (model.STEPS_PER_CALL).
LOG_EVERY_STEPS = 20
CHECKPOINT_EVERY_STEPS = 20
# Kill once the chief is well into the run but far from its end, after at least two checkpoints.
KILL_AT_STEP = 60
# 200 steps of 32 images (about 3 epochs of a tiny 2,000-image subset) reached 0.960-0.964 test accuracy
# on 500 MNIST test images in every faulted run; the floor leaves room for that tiny data's noise while a
# job whose training a fault undid (weights reset, steps lost) stays far below it, near chance (0.1).
ACCURACY_FLOOR = 0.8
_RESUMED = re.compile(r"training steps (\d+)\.\.(\d+) \(resumed\)")
_RESTART = "--- restart 1 after exit code 137 ---"


def run_with_fault(
    settings: settings_module.Settings, *, target: str, num_workers: int
) -> tuple[tfjob.TFJobStatus, FaultInjector]:
    """Run the job, killing `target` at KILL_AT_STEP; returns the final status (check=False) and the injector."""
    job = render_job(
        settings=settings,
        num_workers=num_workers,
        train_steps=TRAIN_STEPS,
        log_every_steps=LOG_EVERY_STEPS,
        checkpoint_every_steps=CHECKPOINT_EVERY_STEPS,
    )
    injector = FaultInjector(settings=settings, job_name=JOB_NAME, target=target, at_step=KILL_AT_STEP)
    status = tfjob.run(job, settings=settings, on_line=injector, timeout_s=JOB_TIMEOUT_S, check=False)
    assert injector.killed_at_step is not None, "the job ended before the fault was injected"
    return status, injector


def conditions(status: tfjob.TFJobStatus) -> list[str]:
    """The types of the job's true conditions, in order."""
    return [condition["type"] for condition in status.conditions if condition["status"] == "True"]


def test_a_killed_worker_is_restarted_and_the_job_still_succeeds(
    job_settings: settings_module.Settings, no_leftovers: str
) -> None:
    status, injector = run_with_fault(job_settings, target="worker-1", num_workers=2)
    assert conditions(status)[-1] == "Succeeded", status.conditions
    final = injector.final()
    assert final["steps"] == str(TRAIN_STEPS)
    assert float(final["test_accuracy"]) >= ACCURACY_FLOOR, final
    # OnFailure restarted the killed worker (exit 137 = SIGKILL); the chief was never restarted.
    assert _RESTART in replica_log(job_settings, JOB_NAME, "worker-1")
    assert "--- restart" not in replica_log(job_settings, JOB_NAME, "chief-0")
    # The coordinator went on with worker 0 meanwhile: every step once, none redone.
    assert injector.chief_steps() == list(range(LOG_EVERY_STEPS, TRAIN_STEPS + 1, LOG_EVERY_STEPS))
    assert survivors(no_leftovers) == []


def test_a_killed_chief_restarts_and_resumes_from_its_last_checkpoint(
    job_settings: settings_module.Settings, no_leftovers: str
) -> None:
    status, injector = run_with_fault(job_settings, target="chief-0", num_workers=1)
    assert conditions(status)[-1] == "Succeeded", status.conditions
    chief_log = replica_log(job_settings, JOB_NAME, "chief-0")
    first_run, _, second_run = chief_log.partition(_RESTART)
    assert f"training steps 0..{TRAIN_STEPS} (new)" in first_run
    resumed = _RESUMED.search(second_run)
    assert resumed, second_run[-3000:]
    resumed_from = int(resumed.group(1))
    # Resumed from a checkpoint written before the kill, not from zero.
    assert 0 < resumed_from <= injector.killed_at_step
    assert "(new)" not in second_run
    steps = injector.chief_steps()
    restarted_steps = steps[steps.index(injector.killed_at_step) + 1 :]
    assert restarted_steps and restarted_steps[0] == resumed_from + LOG_EVERY_STEPS
    final = injector.final()
    assert final["steps"] == str(TRAIN_STEPS) and final["resumed_from"] == str(resumed_from)
    assert float(final["test_accuracy"]) >= ACCURACY_FLOOR, final
    assert survivors(no_leftovers) == []


def test_a_killed_parameter_server_recovers_from_the_last_checkpoint(
    job_settings: settings_module.Settings, no_leftovers: str
) -> None:
    """The manifest's policy (OnFailure everywhere, backoffLimit 3) makes a lost ps a recovery, never a hang.

    What really happens: the ps held the only copy of the variables, so the chief's next call to it
    fails fast (GRPC_FAIL_FAST=use_caller) with UnavailableError and the chief exits 1; OnFailure
    restarts both the ps (exit 137) and the chief, and the new chief restores every variable from its
    last checkpoint onto the fresh ps. A ps that never comes back would exhaust backoffLimit (the job
    Fails) and the runner's timeout bounds the rest, so the job cannot hang.
    """
    status, injector = run_with_fault(job_settings, target="ps-0", num_workers=1)
    assert conditions(status)[-1] == "Succeeded", status.conditions
    assert _RESTART in replica_log(job_settings, JOB_NAME, "ps-0")
    chief_log = replica_log(job_settings, JOB_NAME, "chief-0")
    first_run, marker, second_run = chief_log.partition("--- restart 1 after exit code 1 ---")
    assert marker and "UnavailableError" in first_run, chief_log[-3000:]
    resumed = _RESUMED.search(second_run)
    assert resumed and 0 < int(resumed.group(1)) <= injector.killed_at_step, second_run[-3000:]
    final = injector.final()
    assert final["steps"] == str(TRAIN_STEPS) and float(final["test_accuracy"]) >= ACCURACY_FLOOR, final
    assert survivors(no_leftovers) == []
