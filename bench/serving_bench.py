"""Benchmark: single-image predict latency and throughput of the local TF Serving stand-in.

Issue 4 targets: p50 <= 3 ms for one image and >= 20x the throughput of a naive Flask route
that calls `model.predict` per request. Both servers run as separate processes on loopback with
the same MNIST-sized CNN; clients are threads with one HTTP session each, at 1, 4 and 16
concurrent clients, with bounded request counts. Prints a table and writes bench/results/serving.json.

    .venv/bin/python bench/serving_bench.py [--requests 300] [--baseline-requests 40]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import pathlib
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import numpy as np
import requests

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "serving.json"
CONCURRENCY = (1, 4, 16)
WARMUP_REQUESTS = 20
STARTUP_TIMEOUT_S = 180.0
# As in manifests/serving.yaml: one thread per op answers a single small image fastest.
SERVER_FLAGS = ("--tensorflow_intra_op_parallelism=1",)


def make_model():
    """An MNIST CNN of the size model/model.py trains (3x3 convs, no dense 1024)."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def run_baseline(port: int, model_path: str) -> None:
    """The naive server: Flask + waitress, `model.predict` on every request."""
    import flask
    import keras
    import waitress

    model = keras.models.load_model(model_path)
    app = flask.Flask("baseline")

    @app.post("/predict")
    def predict() -> dict:
        images = np.asarray(flask.request.get_json()["instances"], dtype=np.float32)
        return {"predictions": model.predict(images, verbose=0).tolist()}

    waitress.serve(app, host="127.0.0.1", port=port, threads=16)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode} before it was ready")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.5)
    raise SystemExit(f"{url} not ready after {STARTUP_TIMEOUT_S} s")


def _load(url: str, body: bytes, *, clients: int, total: int) -> dict[str, float]:
    """Send `total` requests from `clients` threads; latency percentiles (ms) and throughput (req/s).

    Each client keeps one `http.client` connection: `requests` costs ~1 ms of client CPU per call,
    which on a small machine is taken from the server being measured.
    """
    per_client = max(1, total // clients)
    target = urllib.parse.urlsplit(url)

    def worker() -> list[float]:
        latencies = []
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            for _ in range(per_client):
                started = time.perf_counter()
                connection.request("POST", target.path, body=body, headers={"Content-Type": "application/json"})
                answer = connection.getresponse()
                answer.read()
                latencies.append(time.perf_counter() - started)
                if answer.status != 200:
                    raise SystemExit(f"{url} answered {answer.status}")
        finally:
            connection.close()
        return latencies

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = [value for result in pool.map(lambda _: worker(), range(clients)) for value in result]
    wall_s = time.perf_counter() - started
    milliseconds = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 2),
        "p99_ms": round(float(np.percentile(milliseconds, 99)), 2),
        "throughput_rps": round(len(latencies) / wall_s, 1),
    }


def _measure(url: str, body: bytes, total: int) -> list[dict[str, float]]:
    _load(url, body, clients=1, total=WARMUP_REQUESTS)
    return [_load(url, body, clients=clients, total=total) for clients in CONCURRENCY]


def main(argv: list[str] | None = None) -> int:
    """Run both servers, measure them, print a table and write the JSON results; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="requests per concurrency level (local server)")
    parser.add_argument("--baseline-requests", type=int, default=48, help="requests per level (baseline)")
    parser.add_argument("--baseline", nargs=2, metavar=("PORT", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline:
        run_baseline(int(args.baseline[0]), args.baseline[1])
        return 0

    from helpers.serving import export

    load_before = round(os.getloadavg()[0], 2)
    image = np.random.default_rng(0).random((1, 28, 28), dtype=np.float32)
    body = json.dumps({"instances": image.tolist()}).encode()
    with tempfile.TemporaryDirectory() as scratch:
        model = make_model()
        base_path = pathlib.Path(scratch) / "mnist"
        export.export_classifier(model, base_path / "1")
        keras_path = str(pathlib.Path(scratch) / "model.keras")
        model.save(keras_path)
        serving_port, baseline_port = _free_port(), _free_port()
        log = open(pathlib.Path(scratch) / "servers.log", "wb")  # noqa: SIM115  (closed below)
        servers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "helpers.serving.server",
                    f"--rest_api_port={serving_port}",
                    "--model_name=mnist",
                    f"--model_base_path={base_path}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [sys.executable, __file__, "--baseline", str(baseline_port), keras_path],
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
        ]
        try:
            serving_url = f"http://127.0.0.1:{serving_port}/v1/models/mnist"
            baseline_url = f"http://127.0.0.1:{baseline_port}/predict"
            _wait_ready(serving_url, servers[0])
            _wait_ready(f"http://127.0.0.1:{baseline_port}/", servers[1])
            results = {
                "local_server": _measure(f"{serving_url}:predict", body, args.requests),
                "baseline_model_predict": _measure(baseline_url, body, args.baseline_requests),
            }
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
            log.close()
    speedups = [
        round(ours["throughput_rps"] / theirs["throughput_rps"], 1)
        for ours, theirs in zip(results["local_server"], results["baseline_model_predict"], strict=True)
    ]
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        # Other people's jobs share this machine; the load says how noisy the numbers are.
        "load_average_1m_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "server_flags": list(SERVER_FLAGS),
        "targets": {"p50_ms_at_1_client": 3.0, "throughput_speedup": 20.0},
        **results,
        "throughput_speedup": dict(zip((str(c) for c in CONCURRENCY), speedups, strict=True)),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'server':<24}{'clients':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
    for name in ("local_server", "baseline_model_predict"):
        for row in results[name]:
            print(f"{name:<24}{row['clients']:>8}{row['p50_ms']:>9}{row['p99_ms']:>9}{row['throughput_rps']:>9}")
    print(f"throughput speedup by clients: {report['throughput_speedup']}  (results: {RESULTS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
