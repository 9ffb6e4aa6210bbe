"""The kubelet log endpoint: the query rules on CRI log files, then a real HTTPS request."""

from __future__ import annotations

import datetime
import pathlib
import ssl
import urllib.request

from helpers.local.node import logserver

NOW = datetime.datetime(2026, 1, 1, 0, 1, 0, tzinfo=datetime.UTC)


def _logs(tmp_path: pathlib.Path) -> logserver.ContainerLogs:
    first, second = tmp_path / "0.log", tmp_path / "1.log"
    first.write_text("2026-01-01T00:00:00.000000001Z stdout F crashed\n")
    second.write_text("".join(f"2026-01-01T00:00:{10 * i:02d}.000000000Z stdout F line {i}\n" for i in range(1, 6)))
    return logserver.ContainerLogs([first, second], lambda: False)


def _body(logs: logserver.ContainerLogs, **query: str) -> str:
    return b"".join(logserver.render(logs, query, now=NOW)).decode()


def test_query_rules(tmp_path: pathlib.Path) -> None:
    logs = _logs(tmp_path)
    assert _body(logs).splitlines() == [f"line {i}" for i in range(1, 6)]
    assert _body(logs, previous="true") == "crashed\n"
    assert _body(logs, tailLines="2") == "line 4\nline 5\n"
    assert _body(logs, tailLines="1", timestamps="true") == "2026-01-01T00:00:50.000000000Z line 5\n"
    assert _body(logs, sinceSeconds="15") == "line 5\n"  # written at 00:00:50, now is 00:01:00
    assert _body(logs, sinceTime="2026-01-01T00:00:40Z") == "line 4\nline 5\n"
    assert _body(logs, limitBytes="9") == "line 1\nli"


def test_follow_ends_when_the_container_stops(tmp_path: pathlib.Path) -> None:
    logs = _logs(tmp_path)
    checks = iter([True, False])
    following = logserver.ContainerLogs(logs.instances, lambda: next(checks, False))
    assert _body(following, follow="true", tailLines="1") == "line 5\n"


def test_served_over_https_to_a_client_that_does_not_verify(tmp_path: pathlib.Path) -> None:
    logs = _logs(tmp_path)
    server = logserver.LogServer(
        lookup=lambda ns, pod, container: logs if (ns, pod, container) == ("ns", "p", "c") else None,
        host="127.0.0.1",
        port=0,
        cert_dir=tmp_path / "pki",
    )
    server.start()
    try:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        url = f"https://127.0.0.1:{server.port}/containerLogs/ns/p/c?tailLines=1"
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            assert response.read() == b"line 5\n"
        try:
            urllib.request.urlopen(f"https://127.0.0.1:{server.port}/containerLogs/ns/p/x", context=context, timeout=5)
        except urllib.error.HTTPError as e:
            assert e.code == 404
            e.close()
    finally:
        server.stop()
