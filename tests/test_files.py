"""files: one atomic JSON writer for state, registries, status and pid records."""

from __future__ import annotations

import json
import pathlib

import pytest

from helpers import files


def test_writes_and_replaces_in_place(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "deep" / "record.json"
    files.write_json(path, {"b": 1, "a": 2}, sort_keys=True)
    assert path.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    files.write_json(path, [1])
    assert json.loads(path.read_text()) == [1]
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_scratch(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "folder" / "record.json"
    files.write_json(path, {"kept": True})
    with pytest.raises(TypeError):
        files.write_json(path, {"not json": object()})
    assert json.loads(path.read_text()) == {"kept": True}
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]
