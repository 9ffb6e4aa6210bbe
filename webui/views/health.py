"""Health checks for Kubernetes and Docker: liveness without, readiness with the model server."""

from __future__ import annotations

import flask

from webui import context, errors

bp = flask.Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> flask.Response:
    """Liveness: the process answers; never calls the model server, so a model outage does not
    get the UI restarted."""
    return flask.jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[flask.Response, int]:
    """Readiness of the whole path: 200 when the model server reports the model AVAILABLE, else 503."""
    client = context.current().client
    try:
        status = client.status()
    except errors.ModelServerError as e:
        return flask.jsonify(error=e.message), 503
    if status["state"] != "AVAILABLE":
        message = f"model {client.model_name!r} version {status['version']} is {status['state']}, not AVAILABLE"
        return flask.jsonify(error=message), 503
    return flask.jsonify(status="ready", model=client.model_name, version=status["version"]), 200
