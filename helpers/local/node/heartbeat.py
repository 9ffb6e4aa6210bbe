"""The Node object's life: created (or refreshed) at start with the not-ready taint lifted, then heartbeats.

A kubelet reports its Node's status every 10 s and renews a Lease; with no node lifecycle controller
running in this tier nothing marks a silent node NotReady, so the heartbeat is only for show and
every `HEARTBEAT_S` is enough. The clocks are arguments so tests can script when beats are due.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from helpers.local.node import nodeapi, nodeobject, podrun

# Seconds between Node heartbeats.
HEARTBEAT_S = 20.0


class Heartbeat:
    """Registers Node `name` (its log endpoint on `kubelet_port`) and patches its status when a beat is due."""

    def __init__(
        self,
        api: nodeapi.NodeApi,
        name: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: podrun.WallClock,
        interval_s: float = HEARTBEAT_S,
    ) -> None:
        self._api, self._name = api, name
        self._clock, self._wall_clock, self._interval_s = clock, wall_clock, interval_s
        self._last: float | None = None

    def register(self, *, kubelet_port: int) -> None:
        """Create or refresh the Node, lift its not-ready taint, and report its status at once."""
        now = podrun.rfc3339(self._wall_clock())
        body = nodeobject.manifest(self._name, kubelet_port=kubelet_port, now=now)
        self._api.register_node(body, lift_taint=nodeobject.without_not_ready)
        self.beat(kubelet_port=kubelet_port, force=True)

    def beat(self, *, kubelet_port: int, force: bool = False) -> None:
        """Patch the Node's status if `interval_s` passed since the last beat (or `force`)."""
        if not force and self._last is not None and self._clock() - self._last < self._interval_s:
            return
        self._last = self._clock()
        now = podrun.rfc3339(self._wall_clock())
        self._api.patch_node_status(self._name, nodeobject.status(self._name, kubelet_port=kubelet_port, now=now))
