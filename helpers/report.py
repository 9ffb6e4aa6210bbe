"""A small table of "what was done" that helpers return and notebooks display.

Each step returns a `Report` rather than printing, so the notebook shows an HTML table, the
headless runner logs plain text, and tests assert on rows.
"""

from __future__ import annotations

import dataclasses
import html


@dataclasses.dataclass(frozen=True)
class Row:
    """One thing a step looked at: what it is, its name or address, and what happened."""

    item: str
    name: str
    status: str


@dataclasses.dataclass(frozen=True)
class Report:
    """The rows of one step under a title; shown as a table in notebooks, as text in logs."""

    title: str
    rows: tuple[Row, ...] = ()

    def status_of(self, item: str) -> str:
        """The status of the first row for `item`; raises KeyError when there is none."""
        for row in self.rows:
            if row.item == item:
                return row.status
        raise KeyError(item)

    def __str__(self) -> str:
        width = max((len(row.item) for row in self.rows), default=0)
        status_width = max((len(row.status) for row in self.rows), default=0)
        lines = [self.title]
        lines += [f"  {row.item:<{width}}  {row.status:<{status_width}}  {row.name}" for row in self.rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(row.item)}</td><td>{html.escape(row.status)}</td>"
            f"<td><code>{html.escape(row.name)}</code></td></tr>"
            for row in self.rows
        )
        return (
            f"<b>{html.escape(self.title)}</b><table><thead><tr><th>item</th><th>status</th>"
            f"<th>name</th></tr></thead><tbody>{cells}</tbody></table>"
        )

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(str(self))  # type: ignore[attr-defined]
