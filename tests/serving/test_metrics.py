"""The monitoring config parser and the Prometheus endpoint: counts, latency histogram, errors."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

from helpers import errors
from helpers.serving import api, metrics
from tests.serving.app_client import Client

METRICS_PATH = "/monitoring/prometheus/metrics"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }', (True, METRICS_PATH)),
        ('# exported\nprometheus_config: {\n  enable: true;\n  path: "/m"\n}\n', (True, "/m")),
        ("prometheus_config { enable: false }", (False, METRICS_PATH)),
        ("prometheus_config { enable: true }", (True, METRICS_PATH)),
        ("", (False, METRICS_PATH)),
    ],
)
def test_monitoring_config_is_parsed(text: str, expected: tuple[bool, str]) -> None:
    config = metrics.parse_monitoring_config(text)
    assert (config.enable, config.path) == expected


@pytest.mark.parametrize(
    "text",
    [
        "prometheus { enable: true }",
        "prometheus_config { enable: yes }",
        "prometheus_config { enable: true, path: relative }",
        "prometheus_config { enable: true, port: 9 }",
        "prometheus_config { enable: true",
        "prometheus_config { enable true }",
    ],
)
def test_malformed_monitoring_config_is_a_config_error(text: str) -> None:
    with pytest.raises(errors.ConfigError, match="monitoring_config_file"):
        metrics.parse_monitoring_config(text)


def test_unreadable_monitoring_config_is_a_config_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError, match="cannot be read"):
        metrics.read_monitoring_config(tmp_path / "absent.config")


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` whose labels include `labels` (0 when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(r"(\S+?)\{(.*)\} (\S+)", line)
        if match and match.group(1) == name:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
            if all(found.get(key) == value for key, value in labels.items()):
                return float(match.group(3))
    return 0.0


def test_requests_latency_and_errors_are_exported(client) -> None:
    def scrape() -> str:
        answer = client.get(METRICS_PATH)
        assert answer.status_code == 200
        assert answer.content_type.startswith("text/plain")
        return answer.text

    before = scrape()
    pixels = np.zeros((1, 28, 28)).tolist()
    for _ in range(3):
        assert client.post("/v1/models/mnist:predict", json={"inputs": pixels}).status_code == 200
    assert client.post("/v1/models/mnist:predict", data=b"{").status_code == 400
    assert client.get("/v1/models/mnist/versions/4").status_code == 404
    after = scrape()

    count = ":tensorflow:serving:request_count_total"
    ok = {"model_name": "mnist", "API": "predict", "status": "OK"}
    assert _sample(after, count, **ok) - _sample(before, count, **ok) == 3
    bad = {"model_name": "mnist", "API": "predict", "status": "INVALID_ARGUMENT"}
    assert _sample(after, count, **bad) - _sample(before, count, **bad) == 1
    assert _sample(after, count, model_name="mnist", API="model_status", status="NOT_FOUND") >= 1
    latency = {"model_name": "mnist", "API": "predict", "entrypoint": "REST"}
    assert _sample(after, ":tensorflow:serving:request_latency_count", **latency) >= 4
    assert _sample(after, ":tensorflow:serving:request_latency_bucket", le="+Inf", **latency) >= 4
    assert _sample(after, ":tensorflow:serving:request_latency_sum", **latency) > 0


def test_metrics_are_not_exported_unless_enabled(manager, executor) -> None:
    app = api.create_app(
        manager=manager,
        monitoring=metrics.MonitoringConfig(enable=False),
        max_body_bytes=1024,
        timeout_s=1.0,
        executor=executor,
    )
    answer = Client(app).get(METRICS_PATH)
    assert answer.status_code == 404
    assert "error" in answer.json
