"""The small JSON state file through which notebooks hand results to the next ones.

01 records the settings it used, 02 the image it built, 03 where the model was exported,
and so on. Writes are atomic (write a temporary file, then rename), so an interrupted cell
never leaves a half-written file that breaks every later notebook.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from helpers import errors, files

STATE_FILE = "state.json"


def path(state_dir: pathlib.Path) -> pathlib.Path:
    """The state file inside `state_dir`."""
    return pathlib.Path(state_dir) / STATE_FILE


def read(state_dir: pathlib.Path) -> dict[str, Any]:
    """Everything recorded so far; an empty dict when nothing was. Raises ConfigError when
    the file exists but is not a JSON object."""
    file = path(state_dir)
    if not file.exists():
        return {}
    try:
        content = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise errors.ConfigError(
            "state_dir", str(state_dir), f"{file} is not valid JSON ({e}); delete it to start over"
        ) from e
    if not isinstance(content, dict):
        raise errors.ConfigError(
            "state_dir", str(state_dir), f"{file} does not hold a JSON object; delete it to start over"
        )
    return content


def _write(state_dir: pathlib.Path, content: dict[str, Any]) -> None:
    files.write_json(path(state_dir), content, sort_keys=True)


def get(state_dir: pathlib.Path, section: str) -> dict[str, Any]:
    """One section of the state (for example "image" or "model"); empty when not recorded."""
    value = read(state_dir).get(section, {})
    return value if isinstance(value, dict) else {}


def update(state_dir: pathlib.Path, section: str, values: dict[str, Any]) -> dict[str, Any]:
    """Merge `values` into `section` and write the file atomically; returns the new section."""
    state_dir = pathlib.Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    content = read(state_dir)
    merged = {**content.get(section, {}), **values}
    content[section] = merged
    _write(state_dir, content)
    return merged


def remove(state_dir: pathlib.Path, section: str) -> None:
    """Forget one section (used by clean-up); does nothing when it is not there."""
    content = read(state_dir)
    if section in content:
        del content[section]
        _write(state_dir, content)
