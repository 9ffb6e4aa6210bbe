"""Write a JSON record atomically, so a reader (another kernel, clean-up) never sees half a file.

State, Service registries, job status and pid records are read by other processes while they are
written; clean-up depends on the pid records to stop what a crashed kernel left running. One
writer for all of them: a temporary file in the same folder, then a rename over the old one.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Any


def write_json(path: pathlib.Path, content: Any, *, sort_keys: bool = False) -> None:
    """Replace `path` with `content` as indented JSON in one rename; makes the folder if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(content, file, indent=2, sort_keys=sort_keys)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise
