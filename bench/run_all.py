"""Run every benchmark side by side in one invocation and print one table (`make bench`).

1. End to end: `helpers.pipeline.run` over 01..06 with the default parameters on a fresh
   state folder (the local backend), timing each notebook and sampling the peak memory of
   everything the run starts (kernels, replicas, servers), then cleaning up.
2. Training: bench/train_bench.py (one process vs the local parameter-server topology).
3. Serving: bench/serving_bench.py (our TF Serving REST server beside KServe 0.21's Python model
   server and a naive model.predict route; KServe's virtual environment is made on the first run,
   minutes and about 1 GiB under ~/.cache/kubeflow-mnist/bench).

Writes bench/results/e2e.json (the other two write their own files) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import psutil

REPO = pathlib.Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
# Seconds between memory samples: fine enough to catch each notebook's peak, cheap enough
# not to disturb what it measures.
SAMPLE_S = 0.5


class PeakMemory:
    """Samples the summed RSS of this process's descendants and of the detached servers."""

    def __init__(self, *, state_dir: pathlib.Path) -> None:
        self._state_dir = state_dir
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _servers(self) -> list[psutil.Process]:
        found = []
        for record in (self._state_dir / "local" / "deployments").glob("*.json"):
            try:
                found.append(psutil.Process(json.loads(record.read_text())["process"]["pid"]))
            except (psutil.Error, ValueError, KeyError, OSError):
                continue
        return found

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(SAMPLE_S):
            processes = {process.pid: process for process in [*me.children(recursive=True), *self._servers()]}
            total = 0
            for process in processes.values():
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_bytes = max(self.peak_bytes, total)


def end_to_end(parameters: dict[str, object]) -> dict[str, Any]:
    """Run the whole series once on a fresh state folder; returns per-notebook times and peak memory."""
    from helpers import cleanup, pipeline, settings as settings_module

    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as scratch:
        state_dir = pathlib.Path(scratch) / "state"
        started = time.monotonic()
        run_id = pipeline.new_run_id()
        # The notebooks leave their servers running, as a user wants; the bench stops them whatever happens.
        try:
            with PeakMemory(state_dir=state_dir) as memory:
                outcomes = pipeline.run(
                    parameters={"backend": "local", "state_dir": str(state_dir), **parameters},
                    output_dir=pathlib.Path(scratch) / "runs",
                    progress_bar=False,
                    run_id=run_id,
                )
            wall_s = time.monotonic() - started
            highlights, _ = pipeline.highlights(state_dir, run_id=run_id)
        finally:
            cleanup.clean_up(settings=settings_module.load(state_dir=str(state_dir)))
    return {
        "wall_s": round(wall_s, 1),
        "stages": {
            outcome.notebook: {"status": outcome.status, "s": round(outcome.seconds, 1)} for outcome in outcomes
        },
        "peak_memory_mib": round(memory.peak_bytes / 2**20),
        "highlights": highlights,
    }


def _run_script(name: str, *arguments: str) -> int:
    print(f"\n=== {name} {' '.join(arguments)}", flush=True)
    return subprocess.call([sys.executable, str(REPO / "bench" / name), *arguments], cwd=REPO)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; returns non-zero when one of them failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", action="append", default=[], choices=["e2e", "train", "serving"])
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE")
    arguments = parser.parse_args(argv)
    from helpers import pipeline

    failures = 0
    if "e2e" not in arguments.skip:
        result = end_to_end(pipeline.parse_assignments(arguments.parameter))
        result["machine"] = f"{os.uname().machine}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "e2e.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nend to end: {result['wall_s']} s, peak memory {result['peak_memory_mib']} MiB")
        for notebook, stage in result["stages"].items():
            print(f"  {notebook:<16} {stage['status']:<12} {stage['s']:>7} s")
        failures += any(stage["status"] != "ok" for stage in result["stages"].values())
    if "train" not in arguments.skip:
        failures += _run_script("train_bench.py") != 0
    if "serving" not in arguments.skip:
        failures += _run_script("serving_bench.py") != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
