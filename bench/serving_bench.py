"""Benchmark: single-image predict latency and throughput of the local TF Serving stand-in, side by
side with KServe's Python model server and a naive Flask baseline.

Targets (issues 4 and 15): our server answers one image at p50 <= 2 ms at one client, has >= 1.5x
the throughput of KServe's Python `ModelServer` at 4 and 16 clients, and >= 20x that of a naive
Flask route calling `model.predict` per request. All servers load the same SavedModel of an
MNIST-sized CNN, run as separate processes on loopback with TensorFlow's intra-op threads at 1, and
are measured by the same client: threads with one HTTP connection each, at 1, 4 and 16 concurrent
clients, with bounded request counts. The servers take turns at each level (ours, KServe, the
baseline, then the next level), so a change in the shared machine's load falls on all of them
alike. Prints a table and writes bench/results/serving.json.

KServe runs in a virtual environment of its own under the bench's cache folder
($XDG_CACHE_HOME or ~/.cache, then kubeflow-mnist/bench), made on first use with pip from the
package index pip is configured for (KSERVE_PINS); if that fails, the table says why and the other
servers are still measured.

    .venv/bin/python bench/serving_bench.py [--requests 600] [--baseline-requests 48] [--no-kserve]
        [--variant "--enable_batching=false"] [--before <a git worktree of an earlier commit>]

Our server runs with manifests/serving.yaml's flags: one intra-op thread and batching with the
parameters in its ConfigMap.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import importlib.util
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
from typing import Any

import numpy as np
import requests

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "serving.json"
KSERVE_PEER = pathlib.Path(__file__).resolve().parent / "kserve_peer.py"
# Outside the repository, so git never sees it, and kept between runs: the KServe environment
# takes minutes and ~1 GiB to install.
CACHE_HOME = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
BENCH_CACHE = CACHE_HOME / "kubeflow-mnist" / "bench"
KSERVE_VENV = BENCH_CACHE / "kserve-venv"
# KServe 0.21 requires protobuf >=6.33.5,<7 (ours runs 7.x, hence the separate environment);
# TensorFlow is pinned to the project's own version so both servers run the same kernels.
KSERVE_PINS = ("kserve==0.21.*", "protobuf==6.33.*", "tensorflow-cpu==2.21.0")
KSERVE_INSTALL_TIMEOUT_S = 1800.0
CONCURRENCY = (1, 4, 16)
WARMUP_REQUESTS = 20
STARTUP_TIMEOUT_S = 180.0
# As in manifests/serving.yaml: one thread per op answers a single small image fastest.
SERVER_FLAGS = ("--tensorflow_intra_op_parallelism=1",)
# Our server runs with the batching the serving manifest deploys: its ConfigMap's parameters file.
REPO = pathlib.Path(__file__).resolve().parents[1]
SERVING_MANIFEST = REPO / "manifests" / "serving.yaml"
# The model every server loads: the one the series trains (its export, not its weights, sets the cost).
MODEL_PY = REPO / "model" / "model.py"
BATCHING_KEY = "batching.config"
TARGETS = {"p50_ms_at_1_client": 2.0, "speedup_over_kserve_at_4_and_16": 1.5, "speedup_over_baseline": 20.0}


def make_model() -> Any:
    """model/model.py's CNN, seeded and untrained: a predict costs the same whatever the weights."""
    import keras

    spec = importlib.util.spec_from_file_location("mnist_model", MODEL_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    keras.utils.set_random_seed(0)
    return module.make_model(module.INPUT_SHAPE, module.NUM_CLASSES)


def run_baseline(port: int, model_path: str) -> None:
    """The naive server: Flask + waitress, `model.predict` on every request."""
    import flask
    import keras
    import waitress

    model = keras.models.load_model(model_path)
    app = flask.Flask("baseline")

    @app.post("/predict")
    def predict() -> dict[str, Any]:
        images = np.asarray(flask.request.get_json()["instances"], dtype=np.float32)
        return {"predictions": model.predict(images, verbose=0).tolist()}

    waitress.serve(app, host="127.0.0.1", port=port, threads=16)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
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
    """Send `total` requests from `clients` threads; latency percentiles (ms), throughput (req/s) and
    the client's own CPU time per request (us), which the servers did not get on a shared machine.

    Each client keeps one connection and writes a prepared request on a bare socket: `requests`
    costs ~1 ms of client CPU per call and `http.client` ~0.2 ms, taken from the servers measured.
    """
    per_client = max(1, total // clients)
    target = urllib.parse.urlsplit(url)
    request = (
        f"POST {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    def worker() -> list[float]:
        latencies = []
        with socket.create_connection((target.hostname, target.port), timeout=60) as connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(per_client):
                started = time.perf_counter()
                connection.sendall(request)
                status = _read_response(connection)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    raise SystemExit(f"{url} answered {status}")
        return latencies

    started, cpu_started = time.perf_counter(), time.process_time()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = [value for result in pool.map(lambda _: worker(), range(clients)) for value in result]
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    milliseconds = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 2),
        "p99_ms": round(float(np.percentile(milliseconds, 99)), 2),
        "throughput_rps": round(len(latencies) / wall_s, 1),
        "client_cpu_us_per_request": round(cpu_s / len(latencies) * 1e6),
    }


def _read_response(connection: socket.socket) -> int:
    """Read one HTTP/1.1 response with a Content-Length (all the servers measured send one); returns
    its status."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += _receive(connection)
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    lengths = [line.split(b":", 1)[1] for line in header_lines if line.lower().startswith(b"content-length:")]
    if not lengths:
        raise SystemExit(f"a response without Content-Length: {status_line!r}")
    remaining = int(lengths[0]) - len(rest)
    while remaining > 0:
        remaining -= len(_receive(connection))
    return int(status_line.split()[1])


def _receive(connection: socket.socket) -> bytes:
    chunk = connection.recv(65536)
    if not chunk:
        raise SystemExit("the server closed the connection mid-response")
    return chunk


def kserve_python() -> pathlib.Path:
    """The KServe environment's interpreter, installing KSERVE_PINS first if needed; raises
    SystemExit saying what failed (the caller records it and measures the others)."""
    python = KSERVE_VENV / "bin" / "python"
    stamp = KSERVE_VENV / "pins.txt"
    if python.exists() and stamp.exists() and stamp.read_text().split() == list(KSERVE_PINS):
        return python
    BENCH_CACHE.mkdir(parents=True, exist_ok=True)
    log = BENCH_CACHE / "kserve-install.log"
    print(f"installing {' '.join(KSERVE_PINS)} into {KSERVE_VENV} (log: {log})", flush=True)
    with log.open("wb") as output:
        for command in (
            [sys.executable, "-m", "venv", "--clear", str(KSERVE_VENV)],
            [str(python), "-m", "pip", "install", "--quiet", *KSERVE_PINS],
        ):
            try:
                done = subprocess.run(
                    command, stdout=output, stderr=subprocess.STDOUT, timeout=KSERVE_INSTALL_TIMEOUT_S, check=False
                )
            except subprocess.TimeoutExpired:
                raise SystemExit(f"{' '.join(command[:4])} took longer than {KSERVE_INSTALL_TIMEOUT_S:g} s") from None
            if done.returncode != 0:
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                raise SystemExit(f"{' '.join(command[:4])} failed ({done.returncode}): {' / '.join(tail)}")
    # Written last: a half-made environment is made again next time.
    stamp.write_text("\n".join(KSERVE_PINS) + "\n")
    return python


@dataclasses.dataclass
class Server:
    """One server under test: how to start it, where to ask whether it is ready and to predict."""

    name: str
    command: list[str]
    ready_url: str
    predict_url: str
    requests: int
    cwd: str | None = None
    process: subprocess.Popen[bytes] | None = None


def _manifest_batching_parameters() -> str:
    """The batching parameters file that manifests/serving.yaml's ConfigMap holds."""
    import yaml

    for document in yaml.safe_load_all(SERVING_MANIFEST.read_text()):
        if document and document.get("kind") == "ConfigMap" and BATCHING_KEY in (document.get("data") or {}):
            return str(document["data"][BATCHING_KEY])
    raise SystemExit(f"{SERVING_MANIFEST} has no ConfigMap with {BATCHING_KEY}")


def _ours(name: str, base_path: pathlib.Path, flags: list[str], requests: int) -> Server:
    port = _free_port()
    return Server(
        name=name,
        command=[
            sys.executable,
            "-m",
            "helpers.serving.server",
            f"--rest_api_port={port}",
            "--model_name=mnist",
            f"--model_base_path={base_path}",
            *SERVER_FLAGS,
            *flags,
        ],
        ready_url=f"http://127.0.0.1:{port}/v1/models/mnist",
        predict_url=f"http://127.0.0.1:{port}/v1/models/mnist:predict",
        requests=requests,
    )


def _servers(args: argparse.Namespace, base_path: pathlib.Path, keras_path: str) -> tuple[list[Server], dict[str, str]]:
    """The servers to measure, and the ones that cannot be, with why."""
    kserve, baseline = _free_port(), _free_port()
    batching = base_path.parent / BATCHING_KEY
    batching.write_text(_manifest_batching_parameters())
    manifest_flags = ["--enable_batching=true", f"--batching_parameters_file={batching}"]
    servers = [_ours("local_server", base_path, manifest_flags, args.requests)]
    if args.before:
        # The same command and flags in another checkout (a `git worktree` of the commit before a
        # change): before and after measured in one run, under the same load.
        before = _ours("local_server_before", base_path, manifest_flags, args.requests)
        servers.append(dataclasses.replace(before, cwd=args.before))
    for number, flags in enumerate(args.variant, start=1):
        servers.append(_ours(f"local_server_{number}", base_path, flags.split(), args.requests))
    skipped = {}
    if args.no_kserve:
        skipped["kserve"] = "--no-kserve"
    else:
        try:
            python = kserve_python()
        except SystemExit as e:
            skipped["kserve"] = str(e)
            print(f"KServe is not measured: {e}", file=sys.stderr)
        else:
            servers.append(
                Server(
                    name="kserve",
                    command=[
                        str(python),
                        str(KSERVE_PEER),
                        f"--http_port={kserve}",
                        "--model_name=mnist",
                        f"--model_dir={base_path / '1'}",
                    ],
                    ready_url=f"http://127.0.0.1:{kserve}/v1/models/mnist",
                    predict_url=f"http://127.0.0.1:{kserve}/v1/models/mnist:predict",
                    requests=args.requests,
                )
            )
    servers.append(
        Server(
            name="baseline_model_predict",
            command=[sys.executable, __file__, "--baseline", str(baseline), keras_path],
            ready_url=f"http://127.0.0.1:{baseline}/",
            predict_url=f"http://127.0.0.1:{baseline}/predict",
            requests=args.baseline_requests,
        )
    )
    return servers, skipped


def _measure(servers: list[Server], body: bytes) -> dict[str, list[dict[str, float]]]:
    """Each level for every server in turn, so the servers share whatever load the machine has."""
    for server in servers:
        _load(server.predict_url, body, clients=1, total=WARMUP_REQUESTS)
    results: dict[str, list[dict[str, float]]] = {server.name: [] for server in servers}
    for clients in CONCURRENCY:
        for server in servers:
            results[server.name].append(_load(server.predict_url, body, clients=clients, total=server.requests))
    return results


def _ratios(results: dict[str, list[dict[str, float]]], theirs: str, ours: str = "local_server") -> dict[str, float]:
    """`ours`'s throughput over `theirs`, by clients."""
    return {
        str(mine["clients"]): round(mine["throughput_rps"] / other["throughput_rps"], 2)
        for mine, other in zip(results[ours], results[theirs], strict=True)
    }


def main(argv: list[str] | None = None) -> int:
    """Run the servers, measure them, print a table and write the JSON results; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="requests per level (ours and KServe)")
    parser.add_argument("--baseline-requests", type=int, default=48, help="requests per level (naive baseline)")
    parser.add_argument("--no-kserve", action="store_true", help="measure without KServe (no install)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="FLAGS",
        help="also measure our server with these extra flags (one quoted string; repeatable), as local_server_N",
    )
    parser.add_argument(
        "--before", metavar="CHECKOUT", help="also measure our server as it is in this checkout, as local_server_before"
    )
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
        servers, skipped = _servers(args, base_path, keras_path)
        log = open(pathlib.Path(scratch) / "servers.log", "wb")  # noqa: SIM115  (closed below)
        try:
            for server in servers:
                server.process = subprocess.Popen(server.command, stdout=log, stderr=subprocess.STDOUT, cwd=server.cwd)
            for server in servers:
                assert server.process is not None
                _wait_ready(server.ready_url, server.process)
            results = _measure(servers, body)
        finally:
            for server in servers:
                if server.process is not None:
                    server.process.terminate()
                    server.process.wait(timeout=30)
            log.close()
    report: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        # Other people's jobs share this machine; the load says how noisy the numbers are.
        "load_average_1m_before_after": [load_before, round(os.getloadavg()[0], 2)],
        "server_flags": [*SERVER_FLAGS, "--enable_batching=true", "--batching_parameters_file=<the manifest's>"],
        "batching_parameters": _manifest_batching_parameters(),
        "before_checkout": args.before,
        "variants": {f"local_server_{number}": flags for number, flags in enumerate(args.variant, start=1)},
        "kserve_pins": list(KSERVE_PINS),
        "targets": TARGETS,
        "not_measured": skipped,
        **results,
        "throughput_speedup": _ratios(results, "baseline_model_predict"),
    }
    if "kserve" in results:
        ours = [name for name in results if name.startswith("local_server")]
        report["throughput_over_kserve"] = {name: _ratios(results, "kserve", name) for name in ours}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'server':<24}{'clients':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'client us/req':>15}")
    for name, rows in results.items():
        for row in rows:
            print(
                f"{name:<24}{row['clients']:>8}{row['p50_ms']:>9}{row['p99_ms']:>9}{row['throughput_rps']:>9}"
                f"{row['client_cpu_us_per_request']:>15}"
            )
    print(f"ours over the baseline, throughput by clients: {report['throughput_speedup']}")
    if "kserve" in results:
        print(f"ours over KServe, throughput by clients: {report['throughput_over_kserve']}")
    for name, why in skipped.items():
        print(f"not measured: {name}: {why}")
    print(f"load average before/after: {report['load_average_1m_before_after']}  (results: {RESULTS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
