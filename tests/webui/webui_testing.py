"""Test doubles and data for the web UI tests: rendered digits, a stand-in model server, and the real
one (tests/model_server.py) under the names the web UI tests import.

Kept apart from conftest.py (which only declares fixtures) so test modules import these by a
name no other test folder uses.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from http import server
from typing import Any

import numpy as np
import waitress.server
from PIL import Image, ImageDraw, ImageFont

from helpers.aws import s3
from tests.model_server import ModelServer, free_port  # noqa: F401  (the web UI tests import them from here)
from webui import preprocess

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[2]
# A nearest-centroid classifier as a SavedModel with the serving contract (x float32 [None, 28, 28]
# -> predictions softmax [None, 10], classes int64 [None]); run in a child so that TensorFlow
# never loads into the test process.
EXPORT_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    centroids = tf.constant(np.load(sys.argv[1]).reshape(1, 10, 784), tf.float32)

    class Centroids(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name="x")])
        def serve(self, x):
            distances = tf.reduce_sum(tf.square(tf.reshape(x, [-1, 1, 784]) - centroids), axis=2)
            probabilities = tf.nn.softmax(-distances / 10.0)
            return {"predictions": probabilities, "classes": tf.argmax(probabilities, axis=1, output_type=tf.int64)}

    module = Centroids()
    tf.saved_model.save(module, sys.argv[2], signatures={"serving_default": module.serve})
    """
)
# Two of each digit (thin, bold): enough for "another image" to differ, small enough to build in milliseconds.
COPIES_PER_DIGIT = 2


def render_digit(digit: int, *, bold: bool = False) -> np.ndarray:
    """A 28x28 uint8 image of `digit`, white on black, size-normalised and centred like MNIST."""
    image = Image.new("L", (56, 56), 0)
    font = ImageFont.load_default(size=40)
    ImageDraw.Draw(image).text((28, 28), str(digit), fill=255, font=font, anchor="mm", stroke_width=2 if bold else 0)
    ink = preprocess.to_mnist(np.asarray(image, dtype=np.float32) / 255.0)
    return np.round(ink * 255).astype(np.uint8)


def make_digits() -> tuple[np.ndarray, np.ndarray]:
    """Images [20, 28, 28] uint8 and labels [20] uint8: each digit twice, thin and bold."""
    images = [render_digit(digit, bold=bold) for bold in (False, True) for digit in range(10)]
    labels = [digit for _ in range(COPIES_PER_DIGIT) for digit in range(10)]
    return np.stack(images), np.array(labels, dtype=np.uint8)


def centroid_probabilities(images: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """A nearest-centroid classifier's softmax over negative squared distances: [N, 10]."""
    distances = ((images.reshape(len(images), 1, -1) - centroids.reshape(1, 10, -1)) ** 2).sum(axis=2)
    logits = -distances / 10.0
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def digit_centroids() -> np.ndarray:
    """The mean image of each digit in `make_digits`, in [0, 1]: [10, 28, 28] float32."""
    images, labels = make_digits()
    return np.stack([images[labels == digit].mean(axis=0) / 255.0 for digit in range(10)]).astype(np.float32)


class FakeModelServer:
    """A TF Serving REST stand-in on loopback; `mode` picks how it answers:

    "objects" (rows keyed by output name), "bare" (rows as lists), "error" (HTTP 500 with
    {"error"}), "slow" (answers after `delay_s`), "garbage" (HTTP 200, not JSON), "loading"
    (the model is not AVAILABLE yet) and "rows" (predict answers with `rows` as they are).
    """

    def __init__(self, *, model_name: str = "mnist") -> None:
        self.model_name = model_name
        self.mode = "objects"
        self.delay_s = 2.0
        self.rows: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        self._centroids = digit_centroids()
        self._server = server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # A short poll interval so that stopping the server after each test is quick.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; does nothing when already stopped."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """The status and body for one request, by `mode`."""
        model_path = f"/v1/models/{self.model_name}"
        if self.mode == "slow":
            time.sleep(self.delay_s)
        if self.mode == "error":
            return 500, json.dumps({"error": "Tensor name: predictions has no shape information"}).encode()
        if self.mode == "garbage":
            return 200, b"<html>proxy error</html>"
        if method == "GET" and path == model_path:
            state = "LOADING" if self.mode == "loading" else "AVAILABLE"
            status = {"version": "1", "state": state, "status": {"error_code": "OK", "error_message": ""}}
            return 200, json.dumps({"model_version_status": [status]}).encode()
        if method == "POST" and path == model_path + ":predict":
            request = json.loads(body)
            self.requests.append(request)
            probabilities = centroid_probabilities(np.array(request["instances"]), self._centroids)
            if self.mode == "rows":
                return 200, json.dumps({"predictions": self.rows}).encode()
            if self.mode == "bare":
                rows: list[Any] = probabilities.tolist()
            else:
                rows = [{"predictions": row.tolist(), "classes": int(row.argmax())} for row in probabilities]
            return 200, json.dumps({"predictions": rows}).encode()
        return 404, json.dumps({"error": f"Could not find any versions of model for {path}"}).encode()

    def _handler_class(self) -> type[server.BaseHTTPRequestHandler]:
        fake = self

        class Handler(server.BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, content = fake.answer(method, self.path, body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # The client gave up (the slow mode's timeout test); nothing to answer.

            def do_GET(self) -> None:
                self._reply("GET")

            def do_POST(self) -> None:
                self._reply("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # Keep test output to failures.

        return Handler


def export_centroid_model(directory: pathlib.Path) -> None:
    """Write the nearest-centroid SavedModel of the test digits to `directory` (a version folder)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    centroids_path = directory.parent / "centroids.npy"
    np.save(centroids_path, digit_centroids())
    exported = subprocess.run(
        [sys.executable, "-c", EXPORT_SCRIPT, str(centroids_path), str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    s3.write_marker(directory)  # last, as every export does: the model server takes only complete versions


class Served:
    """A WSGI app served by waitress on a free loopback port in a background thread."""

    def __init__(self, application: Callable[..., Any]) -> None:
        self._server = waitress.server.create_server(application, host="127.0.0.1", port=0, threads=4)
        self.url = f"http://127.0.0.1:{self._server.effective_port}"
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._server.run()
        except OSError:
            # close() from the test's thread can pull the socket from under the loop's select (EBADF);
            # that is the end we asked for, anything else is a real failure.
            if not self._closing.is_set():
                raise

    def close(self) -> None:
        """Stop serving and wait for the server thread (which ends once clients have closed)."""
        self._closing.set()
        self._server.close()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "waitress still has open connections"
