"""Rewrite the golden files from the current templates: `.venv/bin/python -m tests.manifests.regenerate`.

Run it after an intended manifest change, then review the diff in `tests/manifests/golden/`
like any other code change; golden files of removed cases are deleted.
"""

from __future__ import annotations

import sys

from tests.manifests import cases


def main() -> int:
    """Write every golden file, delete stale ones, print what changed; returns the exit code 0."""
    cases.GOLDEN_DIR.mkdir(exist_ok=True)
    expected = {cases.golden_path(case): cases.golden_text(case) for case in cases.GOLDEN_CASES}
    for path, text in expected.items():
        old = path.read_text() if path.is_file() else None
        if old != text:
            path.write_text(text)
            print(f"{'updated' if old is not None else 'created'} {path.name}")
    for path in sorted(cases.GOLDEN_DIR.glob("*.yaml")):
        if path not in expected:
            path.unlink()
            print(f"deleted {path.name}")
    print(f"{len(expected)} golden files in {cases.GOLDEN_DIR.name}/ are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
