"""The Flask app that answers TensorFlow Serving's REST API for one model.

Routes: model status, metadata and `:predict`, each for the latest version, `/versions/{v}` or
`/labels/{l}` (labels need a model config file, which the local server does not take, so they
answer TF Serving's own 400). Errors are `{"error": ...}` with TF Serving's status codes.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import flask
import werkzeug.exceptions
import werkzeug.routing

from helpers.serving import batching, metrics, status, tensors, versions

# HTTP errors raised by Flask itself, by the TF Serving code name counted in the metrics.
_HTTP_CODE_NAMES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 413: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
_MODEL = "/v1/models/<segment:name>"
_VERSION = _MODEL + "/versions/<digits:version>"
_LABEL = _MODEL + "/labels/<segment:label>"


class _SegmentConverter(werkzeug.routing.BaseConverter):
    """A model name or label: TF Serving's `[^/:]+`."""

    regex = "[^/:]+"


class _DigitsConverter(werkzeug.routing.BaseConverter):
    """A version number: TF Serving's `\\d+`, kept as text so an overflow gets TF's own message."""

    regex = r"\d+"


def create_app(
    *,
    manager: versions.VersionManager,
    monitoring: metrics.MonitoringConfig,
    max_body_bytes: int,
    timeout_s: float,
    batcher: batching.Batcher | None = None,
    test_config: dict[str, Any] | None = None,
) -> flask.Flask:
    """Build the REST app serving `manager`'s model.

    Args:
        monitoring: where (and whether) Prometheus metrics are exported.
        max_body_bytes: larger request bodies get 413 with a JSON error.
        timeout_s: a predict that takes longer is answered 504 (TF Serving's DEADLINE_EXCEEDED).
        batcher: runs predicts in batches with other requests (`--enable_batching`); None runs each alone.
        test_config: Flask settings for tests (e.g. {"TESTING": True}).
    """
    app = flask.Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=max_body_bytes, **(test_config or {}))
    app.url_map.converters.update(segment=_SegmentConverter, digits=_DigitsConverter)
    app.url_map.redirect_defaults = False
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep TF Serving's key order
    app.extensions["serving"] = _Serving(
        manager=manager,
        prometheus=metrics.Metrics(),
        timeout_s=timeout_s,
        max_body_bytes=max_body_bytes,
        batcher=batcher,
    )
    app.register_blueprint(_blueprint())
    if monitoring.enable:
        app.add_url_rule(monitoring.path, "metrics", _metrics_view)
    app.before_request(_start_clock)
    app.after_request(_record)
    app.register_error_handler(status.StatusError, _status_error)
    app.register_error_handler(werkzeug.exceptions.HTTPException, _http_error)
    return app


@dataclasses.dataclass(frozen=True)
class _Serving:
    """What the views share: the model, the metrics and the limits."""

    manager: versions.VersionManager
    prometheus: metrics.Metrics
    timeout_s: float
    max_body_bytes: int
    batcher: batching.Batcher | None


def _serving() -> _Serving:
    serving: _Serving = flask.current_app.extensions["serving"]
    return serving


def _blueprint() -> flask.Blueprint:
    blueprint = flask.Blueprint("serving", __name__)
    latest = {"version": None, "label": None}
    for rule, defaults in ((_MODEL, latest), (_VERSION, {"label": None}), (_LABEL, {"version": None})):
        blueprint.add_url_rule(rule, "model_status", model_status, methods=["GET"], defaults=defaults)
        blueprint.add_url_rule(rule + "/metadata", "metadata", metadata, methods=["GET"], defaults=defaults)
        blueprint.add_url_rule(
            rule + ":<any(predict, classify, regress):verb>", "predict", predict, methods=["POST"], defaults=defaults
        )
    return blueprint


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


def model_status(name: str, version: str | None, label: str | None) -> dict[str, Any]:
    """GET /v1/models/{name}[/versions/{v}]: the `model_version_status` list, newest first.

    :raise 404: unknown model or version.
    """
    found = _serving().manager.statuses(name, _requested_version(version, label))
    return {"model_version_status": [entry.to_json() for entry in found]}


def metadata(name: str, version: str | None, label: str | None) -> dict[str, Any]:
    """GET /v1/models/{name}[/versions/{v}]/metadata: the served version's signature_def map.

    :raise 404: unknown model, or a version that is not being served.
    """
    served = _serving().manager.servable(name, _requested_version(version, label))
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(served.version)},
        "metadata": {"signature_def": {"signature_def": served.signature_defs}},
    }


def predict(name: str, version: str | None, label: str | None, verb: str) -> dict[str, Any]:
    """POST /v1/models/{name}[/versions/{v}]:predict: run a signature on row or columnar inputs.

    :raise 400: malformed JSON, wrong keys, dtypes, shapes or signature name.
    :raise 404: unknown model or version.
    :raise 501: `:classify`/`:regress`, which need tf.Example signatures.
    """
    if verb != "predict":
        raise status.StatusError("UNIMPLEMENTED", f"the local server answers :predict only, not :{verb}")
    serving = _serving()
    served = serving.manager.servable(name, _requested_version(version, label))
    request = tensors.parse_predict(tensors.parse_body(flask.request.get_data(cache=False)))
    inputs = tensors.to_inputs(request, served.input_specs(request.signature_name))
    if serving.batcher is None:
        outputs = served.predict(request.signature_name, inputs)
    else:
        outputs = serving.batcher.predict(served, request.signature_name, inputs)
    # A running graph cannot be interrupted from Python; TF Serving cancels it at the deadline. Past
    # the deadline the answer is the same DEADLINE_EXCEEDED, only later.
    if time.perf_counter() - flask.g.started_s > serving.timeout_s:
        raise status.StatusError(
            "DEADLINE_EXCEEDED", f"predict took longer than --rest_api_timeout_in_ms={serving.timeout_s * 1000:g}"
        )
    return tensors.to_json(outputs, request.format)


def _metrics_view() -> flask.Response:
    """GET on the monitoring path: the Prometheus text exposition."""
    return flask.Response(_serving().prometheus.exposition(), mimetype="text/plain; version=0.0.4")


def _start_clock() -> None:
    flask.g.started_s = time.perf_counter()
    flask.g.status_code = "OK"


def _record(response: flask.Response) -> flask.Response:
    if flask.request.endpoint == "metrics" or "started_s" not in flask.g:
        return response
    serving = _serving()
    requested = (flask.request.view_args or {}).get("name")
    api = (flask.request.endpoint or "unmatched").rpartition(".")[2]
    serving.prometheus.observe(
        # Only the served name becomes a label value, so random names cannot grow the series.
        model_name=requested if requested == serving.manager.model_name else "",
        api=api,
        status_code=flask.g.status_code,
        latency_s=time.perf_counter() - flask.g.started_s,
    )
    return response


def _status_error(error: status.StatusError) -> tuple[dict[str, str], int]:
    flask.g.status_code = error.code
    return {"error": error.message}, error.http_status


def _http_error(error: werkzeug.exceptions.HTTPException) -> tuple[dict[str, str], int]:
    code = error.code or 500
    if code == 413:
        limit = _serving().max_body_bytes
        message = f"Request body is larger than the server's limit of {limit} bytes (--rest_api_max_body_bytes)."
    elif code in (404, 405) and flask.request.path.startswith("/v1/"):
        # TF Serving answers any request under /v1/ that matches none of its routes like this.
        code, message = 400, f"Malformed request: {flask.request.method} {flask.request.path}"
    else:
        message = error.description or error.name
    flask.g.status_code = _HTTP_CODE_NAMES.get(code, "UNKNOWN")
    return {"error": message}, code
