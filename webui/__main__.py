"""Serve the web UI with waitress, a production WSGI server: `python -m webui`.

Host and port come from WEBUI_HOST / WEBUI_PORT (the Deployment sets 0.0.0.0:8080); the
local backend runs this same command from the repository root with loopback values.
"""

from __future__ import annotations

import logging

import waitress

from webui import create_app

# Enough for a few users clicking at once while a slow model call holds a thread.
THREADS = 8


def main() -> None:
    """Build the app from the environment and serve it until the process is stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app()
    waitress.serve(app, host=app.config["HOST"], port=app.config["PORT"], threads=THREADS, ident="mnist-webui")


if __name__ == "__main__":
    main()
