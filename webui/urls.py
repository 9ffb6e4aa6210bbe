"""Relative URLs for templates, so the page works under any path prefix.

On the cluster an Istio VirtualService strips `/mnist/<ns>/ui/` before the request reaches
the app, so the app cannot know its public prefix and `url_for`'s absolute paths would miss
it (the upstream example's form broke this way). A URL relative to the current page cannot.
"""

from __future__ import annotations

from typing import Any

import flask


def relative_url_for(endpoint: str, **values: Any) -> str:
    """`url_for(endpoint, **values)` written relative to the current request's path."""
    target = flask.url_for(endpoint, **values).removeprefix(flask.request.script_root)
    depth = flask.request.path.count("/") - 1
    return "../" * depth + target.lstrip("/") or "./"
