"""Read something until a check says it is done, with a bounded backoff and a deadline.

Polling instead of a watch stream: every read is a short request that `_api` can retry, a
proxy that cuts long connections cannot lose an event, and the backoff keeps a long training
run from hammering the API server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from helpers import errors

# First wait between reads: short, so a quick change (a small Deployment) is seen quickly.
POLL_INITIAL_S = 0.5
# Longest wait between reads: a training run that takes minutes is read every few seconds.
POLL_MAX_S = 5.0

State = TypeVar("State")
Result = TypeVar("Result")


def until(
    read: Callable[[], State],
    check: Callable[[State], Result | None],
    *,
    what: str,
    timeout_s: float,
    describe: Callable[[State], str],
    interval_s: float = POLL_INITIAL_S,
) -> Result:
    """Call `read` until `check` returns something other than None, and return that.

    The wait doubles from `interval_s` up to POLL_MAX_S and starts over when the state changes.
    `check` may raise to end the wait early. Raises WaitTimeout with `describe(last state)`.
    """
    deadline = time.monotonic() + timeout_s
    delay_s = interval_s
    previous: list[State] = []
    while True:
        state = read()
        result = check(state)
        if result is not None:
            return result
        if previous and state != previous[0]:
            delay_s = interval_s
        previous[:] = [state]
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            raise errors.WaitTimeout(what, timeout_s, last_state=describe(state))
        time.sleep(min(delay_s, remaining_s))
        delay_s = min(delay_s * 2, max(POLL_MAX_S, interval_s))
