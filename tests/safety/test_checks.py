"""helpers.checks: the type and range checks notebooks run on their parameters in the first code cell."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import checks, errors


@pytest.mark.parametrize(
    ("value", "minimum", "maximum", "reason"),
    [
        ("big", 1, None, "whole number"),
        (2.0, 1, None, "whole number"),
        (True, 0, None, "whole number"),
        (None, 0, None, "whole number"),
        (0, 1, None, "at least 1"),
        (-1, 0, None, "at least 0"),
        (10_001, 0, 10_000, "0..10000"),
    ],
)
def test_integer_refuses_wrong_types_and_ranges(value: object, minimum: int, maximum: int | None, reason: str) -> None:
    with pytest.raises(errors.ConfigError, match=reason) as caught:
        checks.integer("count", value, minimum=minimum, maximum=maximum)
    assert (caught.value.parameter, caught.value.value) == ("count", value)
    assert "'count'" in str(caught.value)


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (10_000, 10_000), (np.int64(7), 7)])
def test_integer_returns_whole_numbers_in_range(value: object, expected: int) -> None:
    result = checks.integer("count", value, minimum=1, maximum=10_000)
    assert result == expected and type(result) is int


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("fast", "finite number"),
        (False, "finite number"),
        (math.nan, "finite number"),
        (math.inf, "finite number"),
        (10**400, "finite number"),
        (0, "between 0 and 1"),
        (1.0, "between 0 and 1"),
        (2.0, "between 0 and 1"),
    ],
)
def test_number_refuses_wrong_types_and_ranges(value: object, reason: str) -> None:
    with pytest.raises(errors.ConfigError, match=reason) as caught:
        checks.number("learning_rate", value, above=0, below=1)
    assert caught.value.parameter == "learning_rate"


def test_number_without_upper_bound() -> None:
    assert checks.number("timeout_s", 3, above=0) == 3.0
    with pytest.raises(errors.ConfigError, match="above 0"):
        checks.number("timeout_s", -0.5, above=0)


@pytest.mark.parametrize("value", ["False", "true", 0, 1, None])
def test_flag_accepts_only_booleans(value: object) -> None:
    with pytest.raises(errors.ConfigError, match="True or False") as caught:
        checks.flag("clean_up_at_end", value)
    assert caught.value.parameter == "clean_up_at_end"
    assert checks.flag("clean_up_at_end", False) is False


def test_text_refuses_other_types_and_optionally_empty() -> None:
    assert checks.text("data_uri", "") == ""
    with pytest.raises(errors.ConfigError, match="must be text"):
        checks.text("data_uri", 5)
    with pytest.raises(errors.ConfigError, match="must not be empty"):
        checks.text("builder_image", "  ", allow_empty=False)
