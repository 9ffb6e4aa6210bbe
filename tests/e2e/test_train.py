"""Notebook 03's TFJob through the real training operator, run by the node agent, as default-editor.

The steps are the notebook's own calls (settings, backend, render, stage, train, record) with fast
parameters; S3 is a moto server that the notebook side and the replicas share.
"""

from __future__ import annotations

import time

from helpers import backends, settings as settings_module, training

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/kubeflow-mnist/train:e2e"
FAST = {"num_workers": 2, "num_ps": 1, "train_steps": 40, "batch_size": 32, "learning_rate": 0.003,
        "train_subset": 2000, "test_subset": 500}  # fmt: skip


def test_notebook_03_trains_through_the_real_operator(editor_settings: settings_module.Settings) -> None:
    backend = backends.get(settings=editor_settings)
    backend.grant_access()  # as 01 does: the pods' ServiceAccount and aws-secret, as default-editor
    jobs = training.render_jobs(
        api="tfjob", settings=editor_settings, image=IMAGE, run_id=time.strftime("%Y%m%d-%H%M%S"), **FAST
    )
    job = jobs["tfjob"]
    training.stage_dataset(backend=backend, settings=editor_settings)
    started = time.monotonic()
    training.train(backend=backend, job=job, train_steps=FAST["train_steps"])
    result = training.record_result(backend=backend, settings=editor_settings, job=job)
    print(f"trained through the operator in {time.monotonic() - started:.0f} s: {result}")
    assert result["test_accuracy"] > 0.5
    logs = backend.replica_logs(job, tail_lines=4)
    assert any("final:" in text for text in logs.values()), logs
