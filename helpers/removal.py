"""What removing looks like in a clean-up report: the statuses and the steps both backends share.

Each backend's clean-up (`Backend.clean_up`) answers one row per thing it removed, found gone or
kept; the words and the "only when asked" rule for the bucket and the repository are the same on
both, so they live here.
"""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Callable

from helpers import errors, report

REMOVED = "removed"
STOPPED = "stopped"
GONE = "already gone"
KEPT = "kept"
SKIPPED = "skipped"


def optional(item: str, name: str, *, asked: bool, flag: str, remove: Callable[[], bool]) -> report.Row:
    """Remove `item` only when asked (`remove` returns False when it was gone); otherwise say how to."""
    if not name:
        return report.Row(item, "none chosen yet", GONE)
    if not asked:
        return report.Row(item, f"{name} (pass {flag} to remove it)", KEPT)
    return report.Row(item, name, REMOVED if remove() else GONE)


def remove_tree(path: pathlib.Path, *, up_to: pathlib.Path | None = None) -> bool:
    """Remove the folder `path`, then its parents that became empty below `up_to`; False when it was gone.

    Raises ConfigError when the folder cannot be removed.
    """
    if not path.exists():
        return False
    try:
        shutil.rmtree(path)
        parent = path.parent
        while up_to is not None and parent != up_to and parent.is_relative_to(up_to) and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    except OSError as e:
        raise errors.ConfigError("state_dir", str(path), f"cannot remove it: {e}") from e
    return True
