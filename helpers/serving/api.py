"""TensorFlow Serving's REST API for one model, as an ASGI app that uvicorn's event loop serves.

Routes: model status, metadata and `:predict`, each for the latest version, `/versions/{v}` or
`/labels/{l}` (labels need a model config file, which the local server does not take, so they
answer TF Serving's own 400). Errors are `{"error": ...}` with TF Serving's status codes. HTTP and
JSON are handled on the event loop; model calls run on the batcher's threads or the executor's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np
import orjson

from helpers.serving import batching, metrics, savedmodel, status, tensors, versions

logger = logging.getLogger(__name__)

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# TF Serving's routes: a model name or label is `[^/:]+`, a version `\d+` (kept as text so an
# overflow gets TF's own message).
_ROUTE = re.compile(
    r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>predict|classify|regress))?"
)
# Bodies up to this size are parsed on the event loop: a few images parse in ~0.1 ms, less than a
# hand-off to a thread costs. Larger ones are parsed on the executor, so the loop keeps answering.
INLINE_PARSE_BYTES = 64 * 1024
SERVER_HEADER = (b"server", b"tensorflow-serving-local")
JSON_TYPE = b"application/json"
METRICS_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
# The texts the server answered under Flask for its own failures and for paths outside /v1/, kept.
INTERNAL_MESSAGE = (
    "The server encountered an internal error and was unable to complete your request. Either the server is"
    " overloaded or there is an error in the application."
)
NOT_FOUND_MESSAGE = (
    "The requested URL was not found on the server. If you entered the URL manually please check your spelling and"
    " try again."
)


@dataclasses.dataclass(frozen=True)
class Answer:
    """One response: HTTP status, body, and what the metrics count it as (`api` None: not counted)."""

    http_status: int
    body: bytes
    content_type: bytes = JSON_TYPE
    code: str = "OK"
    api: str | None = "unmatched"
    model_name: str = ""


def create_app(
    *,
    manager: versions.VersionManager,
    monitoring: metrics.MonitoringConfig,
    max_body_bytes: int,
    timeout_s: float,
    executor: concurrent.futures.Executor,
    batcher: batching.Batcher | None = None,
) -> App:
    """Build the REST app serving `manager`'s model.

    Args:
        monitoring: where (and whether) Prometheus metrics are exported.
        max_body_bytes: larger request bodies get 413 with a JSON error, before they are read.
        timeout_s: a predict that takes longer is answered 504 (TF Serving's DEADLINE_EXCEEDED).
        executor: runs the predicts the batcher does not take, and the parsing of large bodies.
        batcher: runs predicts in batches with other requests (`--enable_batching`); None runs each alone.
    """
    return App(
        manager=manager,
        prometheus=metrics.Metrics(),
        metrics_path=monitoring.path if monitoring.enable else None,
        max_body_bytes=max_body_bytes,
        timeout_s=timeout_s,
        executor=executor,
        batcher=batcher,
    )


@dataclasses.dataclass(frozen=True)
class App:
    """The ASGI callable: routes a request, answers it, and counts it in the metrics."""

    manager: versions.VersionManager
    prometheus: metrics.Metrics
    metrics_path: str | None
    max_body_bytes: int
    timeout_s: float
    executor: concurrent.futures.Executor
    batcher: batching.Batcher | None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request; other ASGI scopes (lifespan) are not used and are ignored."""
        if scope["type"] != "http":
            return
        started_s = time.perf_counter()
        answer = await self._answer(scope, receive, started_s)
        if answer.api is not None:
            self.prometheus.observe(
                model_name=answer.model_name,
                api=answer.api,
                status_code=answer.code,
                latency_s=time.perf_counter() - started_s,
            )
        headers = [
            (b"content-type", answer.content_type),
            (b"content-length", str(len(answer.body)).encode()),
            SERVER_HEADER,
        ]
        await send({"type": "http.response.start", "status": answer.http_status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else answer.body})

    async def _answer(self, scope: Scope, receive: Receive, started_s: float) -> Answer:
        method, path = scope["method"], scope["path"]
        if path == self.metrics_path:
            if method not in ("GET", "HEAD"):
                return _error(405, "UNKNOWN", "The method is not allowed for the requested URL.")
            return Answer(200, self.prometheus.exposition(), METRICS_TYPE, api=None)
        route = _ROUTE.fullmatch(path)
        api = "predict" if route and route["verb"] else "metadata" if route and route["metadata"] else "model_status"
        if route is None or method not in (("POST",) if api == "predict" else ("GET", "HEAD")):
            if path.startswith("/v1/"):
                # TF Serving answers any request under /v1/ that matches none of its routes like this.
                return _error(400, "INVALID_ARGUMENT", f"Malformed request: {method} {path}")
            return _error(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        name = route["name"]
        # Only the served name becomes a label value, so random names cannot grow the series.
        model_name = name if name == self.manager.model_name else ""
        try:
            version = _requested_version(route["version"], route["label"])
            if api == "model_status":
                body: dict[str, Any] = self._model_status(name, version)
            elif api == "metadata":
                body = self._metadata(name, version)
            else:
                if route["verb"] != "predict":
                    raise status.StatusError(
                        "UNIMPLEMENTED", f"the local server answers :predict only, not :{route['verb']}"
                    )
                served = self.manager.servable(name, version)
                data = await self._read_body(scope, receive)
                if data is None:
                    message = (
                        f"Request body is larger than the server's limit of {self.max_body_bytes} bytes"
                        " (--rest_api_max_body_bytes)."
                    )
                    return _error(413, "RESOURCE_EXHAUSTED", message, api=api, model_name=model_name)
                return Answer(200, await self._predict(served, data, started_s), api=api, model_name=model_name)
        except status.StatusError as e:
            return _error(e.http_status, e.code, e.message, api=api, model_name=model_name)
        except Exception:
            # Any other failure is the server's own: logged, and answered 500 without its details.
            logger.exception("%s %s failed", method, path)
            return _error(500, "INTERNAL", INTERNAL_MESSAGE, api=api, model_name=model_name)
        return Answer(200, orjson.dumps(body), api=api, model_name=model_name)

    def _model_status(self, name: str, version: int | None) -> dict[str, Any]:
        """GET /v1/models/{name}[/versions/{v}]: the `model_version_status` list, newest first.

        :raise 404: unknown model or version.
        """
        found = self.manager.statuses(name, version)
        return {"model_version_status": [entry.to_json() for entry in found]}

    def _metadata(self, name: str, version: int | None) -> dict[str, Any]:
        """GET /v1/models/{name}[/versions/{v}]/metadata: the served version's signature_def map.

        :raise 404: unknown model, or a version that is not being served.
        """
        served = self.manager.servable(name, version)
        return {
            "model_spec": {"name": name, "signature_name": "", "version": str(served.version)},
            "metadata": {"signature_def": {"signature_def": served.signature_defs}},
        }

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The request body, or None when it is larger than the limit: a declared length past it is
        refused before any of the body is read, a chunked one as soon as it passes it."""
        for header, value in scope["headers"]:
            if header == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _predict(self, served: savedmodel.LoadedVersion, data: bytes, started_s: float) -> bytes:
        """POST /v1/models/{name}[/versions/{v}]:predict: run a signature on row or columnar inputs.

        :raise 400: malformed JSON, wrong keys, dtypes, shapes or signature name.
        :raise 501: `:classify`/`:regress`, which need tf.Example signatures.
        :raise 504: the answer came after --rest_api_timeout_in_ms.
        """
        loop = asyncio.get_running_loop()
        if len(data) <= INLINE_PARSE_BYTES:
            request, inputs = _parse(served, data)
        else:
            request, inputs = await loop.run_in_executor(self.executor, _parse, served, data)
        rows = batching.batch_rows(inputs)
        if self.batcher is not None and rows is not None:
            running = self.batcher.submit(served, request.signature_name, inputs, rows=rows)
        else:
            running = self.executor.submit(served.predict, request.signature_name, inputs)
        outputs = await asyncio.wrap_future(running)
        # A running graph cannot be interrupted from Python; TF Serving cancels it at the deadline. Past
        # the deadline the answer is the same DEADLINE_EXCEEDED, only later.
        if time.perf_counter() - started_s > self.timeout_s:
            raise status.StatusError(
                "DEADLINE_EXCEEDED", f"predict took longer than --rest_api_timeout_in_ms={self.timeout_s * 1000:g}"
            )
        return _dumps(tensors.to_json(outputs, request.format), outputs)


def _parse(served: savedmodel.LoadedVersion, data: bytes) -> tuple[tensors.PredictRequest, dict[str, np.ndarray]]:
    """The predict request in `data` and its inputs, checked against the signature it names."""
    request = tensors.parse_predict(tensors.parse_body(data))
    return request, tensors.to_inputs(request, served.input_specs(request.signature_name))


def _dumps(body: dict[str, Any], outputs: Mapping[str, np.ndarray]) -> bytes:
    """`body` as JSON; NaN and Infinity are written as json (and TF Serving) write them, where
    orjson would write null."""
    if all(array.dtype.kind != "f" or np.isfinite(array).all() for array in outputs.values()):
        return orjson.dumps(body)
    return json.dumps(body, separators=(",", ":")).encode()


def _requested_version(version: str | None, label: str | None) -> int | None:
    """The version a route names; raises StatusError(INVALID_ARGUMENT) for labels and huge numbers."""
    if label is not None:
        raise status.StatusError("INVALID_ARGUMENT", f"Unrecognized servable version label: {label}")
    if version is None:
        return None
    number = int(version)
    if number >= 2**63:
        raise status.StatusError("INVALID_ARGUMENT", f"Failed to convert version: {version} to numeric.")
    return number


def _error(http_status: int, code: str, message: str, *, api: str | None = "unmatched", model_name: str = "") -> Answer:
    return Answer(http_status, orjson.dumps({"error": message}), code=code, api=api, model_name=model_name)
