"""Notebook 03's TrainJob through the real Trainer v2 and JobSet controllers, run by the node agent, as default-editor.

Trainer makes the JobSet, JobSet the Jobs and the headless Service, the Job controller the pods, the node
agent runs them; each task builds TF_CONFIG from JobSet's hostnames (model/tf_config.py) and reaches its
peers by those names through the node's cluster DNS (the shim's getaddrinfo). The steps are the
notebook's own calls with the fast parameters of notebook 03's TFJob in test_notebooks.py, so the two
accuracies compare.
"""

from __future__ import annotations

import time

from helpers import backends, settings as settings_module, training

from .conftest import FAST, IMAGE


def test_notebook_03_trains_through_a_trainjob_on_the_real_trainer(
    trainjob_settings: settings_module.Settings,
) -> None:
    backend = backends.get(settings=trainjob_settings)
    backend.grant_access()  # as 01 does: the pods' ServiceAccount and aws-secret, as default-editor
    jobs = training.render_jobs(
        api="trainjob", settings=trainjob_settings, image=IMAGE, run_id=time.strftime("%Y%m%d-%H%M%S"), **FAST
    )
    job = jobs["trainjob"]
    assert job["kind"] == "TrainJob"
    training.stage_dataset(backend=backend, settings=trainjob_settings)
    started = time.monotonic()
    report = training.train(backend=backend, job=job, train_steps=int(FAST["train_steps"]))
    result = training.record_result(backend=backend, settings=trainjob_settings, job=job)
    print(f"trained through a TrainJob in {time.monotonic() - started:.0f} s: {result}\n{report}")
    assert result["test_accuracy"] > 0.5
    logs = backend.replica_logs(job, tail_lines=4)
    assert any("final:" in text for text in logs.values()), logs
