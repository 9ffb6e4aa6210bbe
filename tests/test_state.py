"""The state file: atomic merge of sections, clear errors on a damaged file."""

from __future__ import annotations

import pathlib

import pytest

from helpers import errors, state


def test_missing_file_reads_empty(state_dir: pathlib.Path) -> None:
    assert state.read(state_dir) == {}
    assert state.get(state_dir, "image") == {}


def test_update_merges_within_a_section(state_dir: pathlib.Path) -> None:
    state.update(state_dir, "image", {"tag": "a"})
    state.update(state_dir, "image", {"uri": "u"})
    state.update(state_dir, "model", {"version": 1})
    assert state.get(state_dir, "image") == {"tag": "a", "uri": "u"}
    assert state.get(state_dir, "model") == {"version": 1}
    assert not list(state_dir.glob(".state-*")), "temporary files are renamed away"


def test_remove_section_is_idempotent(state_dir: pathlib.Path) -> None:
    state.update(state_dir, "image", {"tag": "a"})
    state.remove(state_dir, "image")
    state.remove(state_dir, "image")
    assert "image" not in state.read(state_dir)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe"])
def test_damaged_file_names_the_file(state_dir: pathlib.Path, content: str) -> None:
    state_dir.mkdir(parents=True)
    state.path(state_dir).write_text(content, encoding="latin-1")
    with pytest.raises(errors.ConfigError, match=r"state\.json"):
        state.read(state_dir)
