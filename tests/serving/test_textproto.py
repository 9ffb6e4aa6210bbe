"""Reading and splitting the text-proto config files both --*_file flags take."""

from __future__ import annotations

import pathlib

import pytest

from helpers import errors
from helpers.serving import textproto


def test_tokens_skip_whitespace_and_comments() -> None:
    text = '# header\nprometheus_config { # trailing\n  path: "/a b", value: -12 }'
    assert textproto.tokens(text) == ["prometheus_config", "{", "path", ":", '"/a b"', ",", "value", ":", "-12", "}"]


def test_an_unreadable_file_is_a_config_error_naming_the_flag(tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError, match="batching_parameters_file"):
        textproto.read(tmp_path / "missing.config", flag="batching_parameters_file")
