"""The HTML page: a random test example with its prediction, and a pad to draw a digit on."""

from __future__ import annotations

import flask

from webui import context, errors, predictions

bp = flask.Blueprint("page", __name__)


@bp.get("/")
def index() -> tuple[str, int]:
    """The page, with a first random example; when that fails, a banner and the failure's status
    (502/504 for the model server, 503 for the test set)."""
    services = context.current()
    example: predictions.RandomExample | None = None
    error: errors.WebUIError | None = None
    try:
        example = predictions.random_example(test_set=services.test_set.get(), client=services.client, rng=services.rng)
    except errors.WebUIError as e:
        flask.current_app.logger.warning("page without an example: %s", e.message)
        error = e
    return flask.render_template(
        "page/index.html",
        example=example,
        error=error,
        model_name=services.client.model_name,
    ), (error.status if error else 200)
