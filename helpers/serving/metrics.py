"""Prometheus metrics of the local server, named after TF Serving's, and its monitoring config.

`--monitoring_config_file` holds the same text proto tensorflow_model_server reads
(`prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }`); the metric names
follow TF Serving's (`:tensorflow:serving:request_count`, `...:request_latency` in microseconds),
so a dashboard built locally reads the cluster's server too.
"""

from __future__ import annotations

import dataclasses
import pathlib

import prometheus_client

from helpers import errors
from helpers.serving import textproto

DEFAULT_PATH = "/monitoring/prometheus/metrics"
# TF Serving's request_latency buckets: exponential from 10 us by x1.8 (33 of them reach ~1.5 h);
# the first 25 (up to ~13 s) are plenty for REST requests.
LATENCY_BUCKETS_US = tuple(10 * 1.8**index for index in range(25))


@dataclasses.dataclass(frozen=True)
class MonitoringConfig:
    """What `--monitoring_config_file` asks for: whether to export metrics, and on which path."""

    enable: bool = False
    path: str = DEFAULT_PATH


def read_monitoring_config(path: pathlib.Path) -> MonitoringConfig:
    """Read and parse a monitoring config file; raises ConfigError when it is unreadable or malformed."""
    return parse_monitoring_config(textproto.read(path, flag="monitoring_config_file"), source=str(path))


def parse_monitoring_config(text: str, *, source: str = "monitoring config") -> MonitoringConfig:
    """Parse the MonitoringConfig text proto; raises ConfigError naming the first thing it cannot read."""
    tokens = textproto.tokens(text)
    if not tokens:
        return MonitoringConfig()
    if tokens[0] != "prometheus_config":
        raise errors.ConfigError("monitoring_config_file", source, f"unknown field {tokens[0]!r}")
    rest = tokens[2:] if tokens[1:2] == [":"] else tokens[1:]
    if rest[:1] != ["{"] or rest[-1:] != ["}"]:
        raise errors.ConfigError("monitoring_config_file", source, "expected prometheus_config { ... }")
    fields = _fields(rest[1:-1], source=source)
    enable = fields.get("enable", "false")
    if enable not in ("true", "false"):
        raise errors.ConfigError("monitoring_config_file", source, f"enable must be true or false, got {enable}")
    path = fields.get("path", f'"{DEFAULT_PATH}"')
    if not (path.startswith('"/') and path.endswith('"')):
        raise errors.ConfigError("monitoring_config_file", source, f"path must be a quoted absolute path, got {path}")
    return MonitoringConfig(enable=enable == "true", path=path[1:-1] or DEFAULT_PATH)


def _fields(tokens: list[str], *, source: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    index = 0
    while index < len(tokens):
        name, colon, value = [*tokens[index : index + 3], "", "", ""][:3]
        if name not in ("enable", "path") or colon != ":" or value in ("", "{", "}", ":"):
            raise errors.ConfigError("monitoring_config_file", source, f"cannot read prometheus_config near {name!r}")
        fields[name] = value
        index += 3
        if index < len(tokens) and tokens[index] in (",", ";"):
            index += 1
    return fields


class Metrics:
    """The server's request counter and latency histogram, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self.request_count = prometheus_client.Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests; errors have a status other than OK.",
            ["model_name", "API", "status"],
            registry=self.registry,
        )
        self.request_latency = prometheus_client.Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for TensorFlow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=LATENCY_BUCKETS_US,
            registry=self.registry,
        )

    def observe(self, *, model_name: str, api: str, status_code: str, latency_s: float) -> None:
        """Count one finished request and record its latency; returns None."""
        self.request_count.labels(model_name=model_name, API=api, status=status_code).inc()
        self.request_latency.labels(model_name=model_name, API=api, entrypoint="REST").observe(latency_s * 1e6)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return prometheus_client.generate_latest(self.registry)
