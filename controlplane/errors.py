"""The control plane's own errors, so a failed build or start says what to do instead of a traceback."""

from __future__ import annotations


class ControlPlaneError(Exception):
    """Raised when the control plane cannot be built, started or reached; the message says what to do."""
