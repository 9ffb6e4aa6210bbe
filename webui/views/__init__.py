"""The web UI's blueprints: the page, the JSON API and the health checks."""
