"""The small JSON state file through which notebooks hand results to the next ones.

01 records the settings it used, 02 the images it built (`Image`), 03 the staged data (`Data`) and
the training run (`Training`), 05 what it serves (`Serving`), and 03, 05 and 06 lines of the series'
`Summary`. Each record is typed and stamped with the run that wrote it; reading a missing one names
the notebook to run first. Writes are atomic, so an interrupted cell never breaks later notebooks.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import pydantic

from helpers import errors, files, report

STATE_FILE = "state.json"
# The environment variable that names the run writing records: the headless runner sets it for its
# notebooks' kernels, so its closing "Results" can leave out what an earlier run wrote.
RUN_ID_ENV = "MNIST_RUN_ID"


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
    """One section of the state as stored (for example "settings"); empty when not recorded."""
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


def current_run_id() -> str:
    """The run writing records now: what the headless runner set, or empty in an interactive session."""
    return os.environ.get(RUN_ID_ENV, "")


class Stamped(pydantic.BaseModel):
    """Which run wrote a record and when (UTC, ISO 8601); empty in records older than the stamps."""

    # Unknown keys are ignored, so a state file written by a newer version still loads.
    model_config = pydantic.ConfigDict(frozen=True, extra="ignore")

    run_id: str = ""
    written_at: str = ""


class Record(Stamped):
    """A notebook's hand-off record: the section it is kept under and the notebook that writes it,
    given as class keywords (`class Data(Record, section="data", written_by="03_train")`)."""

    SECTION: ClassVar[str]
    WRITTEN_BY: ClassVar[str]

    def __init_subclass__(cls, *, section: str, written_by: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.SECTION, cls.WRITTEN_BY = section, written_by


class Image(Record, section="image", written_by="02_build_image"):
    """An image 02 built: the training image ("image") or the web UI's ("ui_image")."""

    uri: str
    tag: str
    built_with: str = ""
    context: str = ""  # the build context kept in the local registry (local backend only)


class Data(Record, section="data", written_by="03_train"):
    """The data set 03 staged in the bucket, and its image counts."""

    uri: str
    train: int
    test: int


class Training(Record, section="training", written_by="03_train"):
    """The training run 03 finished: its job, where it wrote events and the export, and its result."""

    job_name: str
    model_dir: str
    export_uri: str
    version: int
    test_accuracy: float


class Serving(Record, section="serving", written_by="05_serve"):
    """The model server 05 deployed: its address and the model version it serves."""

    url: str
    version: str


RecordType = TypeVar("RecordType", bound=Record)


def save(state_dir: pathlib.Path, record: RecordType, *, section: str = "") -> RecordType:
    """Stamp `record` with this run and replace its section (`record.SECTION` unless given) with it;
    returns the stamped record."""
    stamped = record.model_copy(update={"run_id": current_run_id(), "written_at": _now()})
    state_dir = pathlib.Path(state_dir)
    content = read(state_dir)
    content[section or record.SECTION] = stamped.model_dump(mode="json")
    _write(state_dir, content)
    return stamped


def load(state_dir: pathlib.Path, kind: type[RecordType], *, section: str = "") -> RecordType:
    """The record of type `kind` under `section` (`kind.SECTION` unless given).

    Raises MissingRecord naming the notebook to run first when there is none, or to run again
    when what is there lacks a field or holds a value of the wrong type.
    """
    section = section or kind.SECTION
    stored = read(state_dir).get(section)
    if stored is None:
        raise errors.MissingRecord(section, notebook=kind.WRITTEN_BY, state_file=str(path(state_dir)))
    try:
        return kind.model_validate(stored)
    except pydantic.ValidationError as e:
        raise errors.MissingRecord(
            section, notebook=kind.WRITTEN_BY, state_file=str(path(state_dir)), problem=_first_problem(e)
        ) from e


class SummaryEntry(Stamped):
    """One line of the series' summary; a bare string is a line written before the stamps."""

    value: str

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_bare_string(cls, data: Any) -> Any:
        return {"value": data} if isinstance(data, str) else data


class Summary(pydantic.BaseModel):
    """The series' summary: what 03, 05 and 06 produced, each line stamped with its run."""

    model_config = pydantic.ConfigDict(frozen=True)

    SECTION: ClassVar[str] = "summary"

    entries: dict[str, SummaryEntry] = {}

    def values(self, *, run_id: str | None = None) -> dict[str, str]:
        """Each line's value, only those `run_id` wrote when given."""
        return {label: entry.value for label, entry in self.entries.items() if run_id is None or entry.run_id == run_id}

    def report(self) -> report.Report:
        """The summary as a table: each line with its value and when it was written."""
        rows = (
            report.Row(label, entry.value, entry.written_at or "an earlier run")
            for label, entry in self.entries.items()
        )
        return report.Report("Summary of the series", tuple(rows))


def summary(state_dir: pathlib.Path) -> Summary:
    """The series' summary; empty when no notebook wrote a line yet. Raises MissingRecord when the
    section is there but cannot be read."""
    stored = read(state_dir).get(Summary.SECTION, {})
    try:
        return Summary.model_validate({"entries": stored})
    except pydantic.ValidationError as e:
        raise errors.MissingRecord(
            Summary.SECTION, notebook="03_train", state_file=str(path(state_dir)), problem=_first_problem(e)
        ) from e


def add_to_summary(state_dir: pathlib.Path, lines: Mapping[str, str]) -> Summary:
    """Add or replace lines of the summary, stamped with this run; returns the whole summary."""
    stamp = {"run_id": current_run_id(), "written_at": _now()}
    state_dir = pathlib.Path(state_dir)
    content = read(state_dir)
    entries = {label: entry.model_dump(mode="json") for label, entry in summary(state_dir).entries.items()}
    entries.update({label: {"value": value, **stamp} for label, value in lines.items()})
    content[Summary.SECTION] = entries
    _write(state_dir, content)
    return Summary.model_validate({"entries": entries})


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _first_problem(error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the record"
    return f"{where}: {first['msg']}"
