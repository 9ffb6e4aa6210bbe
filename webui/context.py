"""The objects every view needs (model client, test set, random source), kept on the app.

`create_app` builds one `Services` per app and stores it in `app.extensions`; views reach it
through `current()`, so tests get fresh ones with each app and nothing is built at import.
"""

from __future__ import annotations

import dataclasses
import random

import flask

from webui import data, model_client

EXTENSION_KEY = "webui"


@dataclasses.dataclass(frozen=True)
class Services:
    """The model client, the lazily loaded test set and the random source of one app."""

    client: model_client.ModelClient
    test_set: data.TestSetSource
    rng: random.Random


def current() -> Services:
    """The services of the app handling the current request."""
    services: Services = flask.current_app.extensions[EXTENSION_KEY]
    return services
