"""The MNIST web UI: a Flask app showing test digits, the model's predictions and a drawing pad.

The model runs in a TensorFlow Serving-compatible server that the UI calls over REST; the
page, its Bootstrap 5 assets and the JSON API are all served from here, with relative URLs,
so it works offline and under an Istio path prefix. Run it with `python -m webui` (waitress).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import flask
import flask_bootstrap

from webui import config, context, data, model_client, urls
from webui.views import api, health, page


def create_app(test_config: Mapping[str, Any] | None = None) -> flask.Flask:
    """Build the app: defaults, then `WEBUI_*` environment variables, then `test_config`.

    Raises ConfigError naming the first setting that cannot be used.
    """
    app = flask.Flask(__name__)
    app.config.from_mapping(config.DEFAULTS)
    app.config.from_prefixed_env("WEBUI")
    if test_config is not None:
        app.config.from_mapping(test_config)
    config.check(app.config)
    flask_bootstrap.Bootstrap5(app)
    app.extensions[context.EXTENSION_KEY] = context.Services(
        client=model_client.ModelClient(
            base_url=app.config["MODEL_SERVER_URL"],
            model_name=app.config["MODEL_NAME"],
            timeout_s=app.config["REQUEST_TIMEOUT_S"],
        ),
        test_set=data.TestSetSource(app.config["DATA_PATH"]),
        rng=random.Random(),
    )
    app.jinja_env.globals["relative_url_for"] = urls.relative_url_for
    app.register_blueprint(page.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    return app
