"""The JSON API the page calls: a random test example, and the classification of a drawing.

Every answer is JSON, errors included (`{"error": message}` with a 4xx/5xx status), so the
page can show the message in its banner and scripts never have to parse an HTML error page.
"""

from __future__ import annotations

import flask
from werkzeug import exceptions

from webui import context, drawing, errors, predictions

bp = flask.Blueprint("api", __name__, url_prefix="/api")


@bp.get("/random")
def random_example() -> flask.Response:
    """A random test example with its prediction; `?exclude=N` never returns index N.

    :raise 400: `exclude` is not an integer.  :raise 502/504: the model server failed.
    """
    exclude = _index(flask.request.args.get("exclude"))
    services = context.current()
    example = predictions.random_example(
        test_set=services.test_set.get(), client=services.client, rng=services.rng, exclude=exclude
    )
    return flask.jsonify(example)


@bp.post("/classify")
def classify() -> flask.Response:
    """The prediction for a posted drawing: `{"image": 28x28 list in [0, 1] | PNG data URL}`.

    :raise 400: the body is not JSON or the drawing is malformed.  :raise 502/504: model server.
    """
    try:
        payload = flask.request.get_json(silent=True)
    except RecursionError as e:
        # The json module parses nesting recursively; "silent" only covers ValueError.
        raise errors.BadInput("the request body is nested too deeply to be a drawing") from e
    if payload is None:
        raise errors.BadInput("the request body must be JSON with Content-Type: application/json")
    ink = drawing.parse(payload)
    return flask.jsonify(predictions.classify(client=context.current().client, ink=ink))


def _index(text: str | None) -> int | None:
    """The `exclude` query argument as an int (None when absent); raises BadInput."""
    if text is None:
        return None
    try:
        # int() also refuses numbers too long to convert quickly (over 4300 digits).
        return int(text)
    except ValueError as e:
        raise errors.BadInput(f"exclude must be an integer index, not {text[:40]!r}") from e


@bp.app_errorhandler(errors.WebUIError)
def ui_error(error: errors.WebUIError) -> tuple[flask.Response, int]:
    """Any UI error as `{"error": message}` with its status; logged, never a stack trace."""
    flask.current_app.logger.warning("%s %s -> %d: %s", flask.request.method, flask.request.path, error.status, error)
    return flask.jsonify(error=error.message), error.status


@bp.app_errorhandler(exceptions.HTTPException)
def http_error(error: exceptions.HTTPException) -> tuple[flask.Response, int] | exceptions.HTTPException:
    """404, 405, 413 and 500 as JSON under /api/ and the health checks; elsewhere Werkzeug's page."""
    if not flask.request.path.startswith(("/api/", "/healthz", "/readyz")):
        return error
    return flask.jsonify(error=error.description or error.name), error.code or 500
