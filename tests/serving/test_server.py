"""The CLI as a real process: tensorflow_model_server's flags, loopback, metrics, hot swap."""

from __future__ import annotations

import pathlib
import socket
import time

import numpy as np
import pytest
import requests

from helpers.aws import s3
from helpers.serving import server

MODEL = "/v1/models/mnist"


def test_tensorflow_model_server_flags_are_accepted() -> None:
    args = server.parse_args(
        [
            "--port=8500",
            "--rest_api_port=8501",
            "--model_name=mnist",
            "--model_base_path=/models/mnist",
            "--monitoring_config_file=/etc/monitoring/monitoring.config",
            "--file_system_poll_wait_seconds=2",
            "--rest_api_timeout_in_ms=5000",
        ]
    )
    assert (args.port, args.rest_api_port, args.model_name) == (8500, 8501, "mnist")
    assert args.rest_api_host == "127.0.0.1"
    assert server.parse_args(["--model_base_path=/m"]).file_system_poll_wait_seconds == 1.0


@pytest.mark.parametrize(
    "flag",
    [
        "--model_base_path=s3://bucket/models/mnist",
        "--rest_api_port=0",
        "--file_system_poll_wait_seconds=-1",
        "--rest_api_timeout_in_ms=0",
        "--monitoring_config_file=/nonexistent/monitoring.config",
    ],
)
def test_unusable_flags_exit_with_2(tmp_path: pathlib.Path, flag: str) -> None:
    argv = [f"--model_base_path={tmp_path}", flag]
    assert server.main(argv) == 2


def test_the_process_serves_and_logs_rest_only(served) -> None:
    answer = requests.get(f"{served.url}{MODEL}", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["model_version_status"][0]["state"] == "AVAILABLE"
    assert "speaks REST only" in served.log_path.read_text()


def test_the_process_binds_loopback_only(served) -> None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as route:
            route.connect(("10.255.255.255", 1))  # UDP: picks the outward interface, sends nothing
            outside = route.getsockname()[0]
    except OSError:
        pytest.skip("this machine has no route off loopback")
    if outside.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address")
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(2)
        probe.connect((outside, served.port))


def test_the_process_exports_metrics_on_the_configured_path(served) -> None:
    pixels = np.zeros((1, 28, 28)).tolist()
    requests.post(f"{served.url}{MODEL}:predict", json={"inputs": pixels}, timeout=10).raise_for_status()
    text = requests.get(f"{served.url}/monitoring/prometheus/metrics", timeout=10).text
    assert ':tensorflow:serving:request_count_total{API="predict",model_name="mnist",status="OK"}' in text
    assert ":tensorflow:serving:request_latency_bucket" in text


def test_too_large_bodies_get_a_json_413(start_server, base_path) -> None:
    process = start_server(base_path, "--rest_api_max_body_bytes=50000")
    body = {"inputs": np.full((10, 28, 28), 0.123456789).tolist()}  # ~100 kB of JSON
    answer = requests.post(f"{process.url}{MODEL}:predict", json=body, timeout=30)
    assert answer.status_code == 413
    assert "50000 bytes" in answer.json()["error"]


def test_new_versions_hot_swap_and_broken_ones_never_serve(start_server, base_path, exported, install) -> None:
    process = start_server(base_path)
    images = np.random.default_rng(1).random((2, 28, 28), dtype=np.float32)

    def predictions() -> np.ndarray:
        answer = requests.post(f"{process.url}{MODEL}:predict", json={"inputs": images.tolist()}, timeout=30)
        answer.raise_for_status()
        return np.array(answer.json()["outputs"]["predictions"])

    def states() -> dict[str, str]:
        answer = requests.get(f"{process.url}{MODEL}", timeout=10).json()
        return {entry["version"]: entry["state"] for entry in answer["model_version_status"]}

    np.testing.assert_allclose(predictions(), exported[1].expected(images), rtol=1e-5, atol=1e-6)
    install(exported[2].path, base_path, 2)
    _wait_for(lambda: states().get("2") == "AVAILABLE")
    assert states() == {"2": "AVAILABLE", "1": "END"}
    np.testing.assert_allclose(predictions(), exported[2].expected(images), rtol=1e-5, atol=1e-6)

    broken = base_path / "3"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"\x00garbage")
    s3.write_marker(broken)  # uploaded whole, yet its graph is garbage
    _wait_for(lambda: "3" in states())
    time.sleep(5 * 0.2)  # a few more poll intervals
    three = requests.get(f"{process.url}{MODEL}/versions/3", timeout=10).json()["model_version_status"][0]
    assert three["state"] == "END" and three["status"]["error_code"] == "DATA_LOSS"
    assert states()["2"] == "AVAILABLE"
    np.testing.assert_allclose(predictions(), exported[2].expected(images), rtol=1e-5, atol=1e-6)


def _wait_for(predicate, *, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)
