"""`python -m webui`: waitress (never the debug server) on WEBUI_HOST/WEBUI_PORT, as the manifest runs it."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import requests
from webui_testing import REPOSITORY_ROOT, ModelServer, free_port

# Start-up imports Flask, NumPy and Pillow; on a busy 2-core machine that can take seconds.
START_TIMEOUT_S = 30.0


def test_python_m_webui_serves_the_app_with_waitress(model_server: ModelServer, digits_path: pathlib.Path) -> None:
    port = free_port()
    environment = {
        **os.environ,
        "WEBUI_HOST": "127.0.0.1",
        "WEBUI_PORT": str(port),
        "WEBUI_MODEL_SERVER_URL": model_server.url,
        "WEBUI_DATA_PATH": str(digits_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "webui"],
        cwd=REPOSITORY_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, "python -m webui exited early"
                assert time.monotonic() < deadline, "python -m webui did not listen in time"
                time.sleep(0.2)
        assert health.json() == {"status": "ok"}
        assert health.headers["Server"] == "mnist-webui"  # waitress' ident, not Werkzeug's
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        example = requests.get(f"http://127.0.0.1:{port}/api/random", timeout=5).json()
        assert example["predicted"] == example["label"]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"Serving on http://127.0.0.1:{port}" in output
    assert "Debugger" not in output and "development server" not in output
