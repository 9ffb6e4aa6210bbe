"""Type and range checks for notebook parameters that are not settings (counts, rates, timeouts, flags).

papermill injects whatever it is given (`-p batch_size big`, `-r flag False` as the text "False"),
so each notebook's first code cell runs these: a bad value then stops the notebook before any
work starts, with a ConfigError naming the parameter, instead of failing minutes later in a replica.
"""

from __future__ import annotations

import math
import numbers

from helpers import errors


def integer(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """`value` when it is a whole number in [minimum, maximum]; raises ConfigError naming `name` otherwise."""
    # bool is an int subclass, but `num_workers=True` is a mistake, not a count.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise errors.ConfigError(name, value, "must be a whole number")
    count = int(value)
    if count < minimum or (maximum is not None and count > maximum):
        limit = f"{minimum}..{maximum}" if maximum is not None else f"at least {minimum}"
        raise errors.ConfigError(name, value, f"must be {limit}")
    return count


def number(name: str, value: object, *, above: float, below: float | None = None) -> float:
    """`value` as a float when it is finite and strictly between `above` and `below`; raises ConfigError."""
    try:
        # float() of an int beyond a float's range raises OverflowError; NaN and infinities are caught below.
        amount = float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else math.nan
    except OverflowError:
        amount = math.inf
    if not math.isfinite(amount):
        raise errors.ConfigError(name, value, "must be a finite number")
    if not (amount > above and (below is None or amount < below)):
        limit = f"between {above:g} and {below:g} (both excluded)" if below is not None else f"above {above:g}"
        raise errors.ConfigError(name, value, f"must be {limit}")
    return amount


def flag(name: str, value: object) -> bool:
    """`value` when it is True or False; raises ConfigError for anything else, the text "False" included."""
    if not isinstance(value, bool):
        raise errors.ConfigError(name, value, "must be True or False (pass it with papermill -p, not -r)")
    return value


def text(name: str, value: object, *, allow_empty: bool = True) -> str:
    """`value` when it is a string (non-empty unless `allow_empty`); raises ConfigError otherwise."""
    if not isinstance(value, str):
        raise errors.ConfigError(name, value, "must be text")
    if not allow_empty and not value.strip():
        raise errors.ConfigError(name, value, "must not be empty")
    return value
