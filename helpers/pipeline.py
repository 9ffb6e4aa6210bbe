"""The headless runner: executes notebooks 01..06 in order with papermill.

    python -m helpers.pipeline run [-p NAME=VALUE ...] [-f params.yaml] [--output-dir runs]
    python -m helpers.pipeline prepare -f tests/fast-params.yaml --output-dir build/nbval

`run` writes the executed notebooks into a timestamped run folder, shows progress, ends with
a one-screen summary of what this run produced and exits non-zero naming the notebook, cell and
error that failed.
`prepare` only injects the parameters (for nbval, which runs notebooks as they are).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import logging
import os
import pathlib
import secrets
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import papermill
import yaml

from helpers import errors, settings as settings_module, state

NOTEBOOKS = ("01_aws_setup", "02_build_image", "03_train", "04_tensorboard", "05_serve", "06_ui")
NOTEBOOKS_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
# Seconds papermill waits for a kernel to start; the first TensorFlow import on a cold
# 2-core machine can take most of a minute.
KERNEL_START_TIMEOUT_S = 120
# Characters of an error message shown in the summary; the executed notebook keeps all of it.
ERROR_CHARS = 400

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Outcome:
    """What happened to one notebook in a run."""

    notebook: str
    status: str  # "ok", "failed", "not written", "not run"
    seconds: float = 0.0
    output: pathlib.Path | None = None
    error: str = ""


def parse_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    """Turn `NAME=VALUE` strings into parameters, reading each value as YAML (3, 0.5, true, text)."""
    parameters: dict[str, Any] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name.isidentifier():
            raise errors.ConfigError("-p", assignment, "expected NAME=VALUE with a Python identifier as NAME")
        parameters[name] = yaml.safe_load(value) if value else ""
    return parameters


def load_parameters(*, files: Sequence[pathlib.Path], assignments: Sequence[str]) -> dict[str, Any]:
    """Parameters from YAML files (later ones win), then from `NAME=VALUE` assignments."""
    parameters: dict[str, Any] = {}
    for file in files:
        try:
            content = yaml.safe_load(pathlib.Path(file).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise errors.ConfigError("params file", str(file), f"cannot be read as YAML: {e}") from e
        if not isinstance(content, dict):
            raise errors.ConfigError("params file", str(file), "must hold a mapping of parameter names to values")
        parameters.update(content)
    parameters.update(parse_assignments(assignments))
    return parameters


def declared_parameters(notebook: pathlib.Path) -> set[str]:
    """The names in a notebook's cell tagged `parameters`."""
    return set(papermill.inspect_notebook(str(notebook)))


def split_parameters(parameters: Mapping[str, Any], notebooks: Mapping[str, pathlib.Path]) -> dict[str, dict[str, Any]]:
    """Give each notebook the parameters it declares; raises ConfigError for a name none declares."""
    declared = {name: declared_parameters(path) for name, path in notebooks.items()}
    known = set().union(*declared.values()) if declared else set()
    for name in parameters:
        if name not in known:
            raise errors.ConfigError(
                name, parameters[name], f"is not a parameter of any notebook; known: {sorted(known)}"
            )
    return {nb: {k: v for k, v in parameters.items() if k in names} for nb, names in declared.items()}


def _existing(notebooks_dir: pathlib.Path, selected: Sequence[str]) -> tuple[dict[str, pathlib.Path], list[str]]:
    present, missing = {}, []
    for name in selected:
        path = notebooks_dir / f"{name}.ipynb"
        if path.exists():
            present[name] = path
        else:
            missing.append(name)
    return present, missing


def _error_text(error: papermill.PapermillExecutionError) -> str:
    evalue = str(error.evalue)
    if len(evalue) > ERROR_CHARS:
        evalue = evalue[:ERROR_CHARS] + " … (the executed notebook has the whole error)"
    return f"cell {error.exec_count} (index {error.cell_index}): {error.ename}: {evalue}"


@contextlib.contextmanager
def _run_id_for_kernels(run_id: str) -> Iterator[None]:
    """Put `run_id` in the environment that the notebooks' kernels inherit, then restore the old one."""
    earlier = os.environ.get(state.RUN_ID_ENV)
    os.environ[state.RUN_ID_ENV] = run_id
    try:
        yield
    finally:
        if earlier is None:
            os.environ.pop(state.RUN_ID_ENV, None)
        else:
            os.environ[state.RUN_ID_ENV] = earlier


def new_run_id() -> str:
    """A name for one run of the series: its start time and a random suffix (two runs may start in one second)."""
    return f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def run(
    *,
    parameters: Mapping[str, Any],
    output_dir: pathlib.Path,
    notebooks_dir: pathlib.Path = NOTEBOOKS_DIR,
    selected: Sequence[str] = NOTEBOOKS,
    progress_bar: bool = True,
    run_id: str = "",
    live_output: IO[str] | None = None,
) -> list[Outcome]:
    """Execute the selected notebooks in order; stop at the first failure.

    `live_output` (the terminal's stderr for `make run`) receives what the notebooks' cells write to
    stderr as it comes: their log lines and the training's progress bar (steps, rate, time left).

    The notebooks' kernels get `run_id` (a new one when empty) in the environment, and stamp the
    records they write with it. Returns one Outcome per selected notebook: notebooks not yet
    written are reported as such by name, and the ones after a failure as "not run".
    """
    run_id = run_id or new_run_id()
    # Names are checked against the whole series, so one parameters file serves any --only.
    per_notebook = split_parameters(parameters, _existing(notebooks_dir, NOTEBOOKS)[0])
    present, missing = _existing(notebooks_dir, selected)
    run_dir = output_dir / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    failed = False
    for name in selected:
        if name in missing:
            outcomes.append(Outcome(name, "not written"))
            continue
        if failed:
            outcomes.append(Outcome(name, "not run"))
            continue
        output = run_dir / f"{name}.ipynb"
        logger.info("running %s -> %s", name, output)
        started = time.monotonic()
        try:
            with _run_id_for_kernels(run_id):
                papermill.execute_notebook(
                    str(present[name]),
                    str(output),
                    parameters=per_notebook[name],
                    cwd=str(notebooks_dir),
                    progress_bar=progress_bar,
                    start_timeout=KERNEL_START_TIMEOUT_S,
                    stderr_file=live_output,
                )
        except papermill.PapermillExecutionError as e:
            failed = True
            outcomes.append(Outcome(name, "failed", time.monotonic() - started, output, _error_text(e)))
            continue
        outcomes.append(Outcome(name, "ok", time.monotonic() - started, output))
    return outcomes


def prepare(
    *,
    parameters: Mapping[str, Any],
    output_dir: pathlib.Path,
    notebooks_dir: pathlib.Path = NOTEBOOKS_DIR,
) -> list[pathlib.Path]:
    """Write copies of the notebooks with parameters injected but nothing executed."""
    present, _ = _existing(notebooks_dir, NOTEBOOKS)
    per_notebook = split_parameters(parameters, present)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, path in present.items():
        output = output_dir / f"{name}.ipynb"
        papermill.execute_notebook(str(path), str(output), parameters=per_notebook[name], prepare_only=True)
        written.append(output)
    return written


def summary(outcomes: Sequence[Outcome], *, highlights: Mapping[str, Any], earlier: int = 0) -> str:
    """A one-screen summary: each notebook's status and time, then what the run produced.

    `highlights` are this run's results only; `earlier` counts the state file's results from an
    earlier run, which are left out (a failed run must not show the last good run's accuracy).
    """
    lines = ["", "Summary", "-------"]
    for outcome in outcomes:
        took = f"{outcome.seconds:6.1f} s" if outcome.seconds else " " * 8
        lines.append(f"  {outcome.notebook:<16} {outcome.status:<12} {took}  {outcome.output or ''}")
        if outcome.error:
            lines.append(f"      error in {outcome.error}")
    if highlights:
        lines += ["", "Results"]
        lines += [f"  {key}: {value}" for key, value in highlights.items()]
    if earlier:
        lines += ["", f"  ({earlier} result(s) in the state file are from an earlier run; not shown)"]
    return "\n".join(lines)


def highlights(state_dir: pathlib.Path, *, run_id: str) -> tuple[dict[str, str], int]:
    """What the notebooks of run `run_id` recorded for the summary, and how many lines of the summary
    an earlier run wrote. An unreadable summary is logged and counts as nothing."""
    try:
        recorded = state.summary(state_dir)
    except errors.HelpersError as e:
        logger.warning("the summary cannot be shown: %s", e)
        return {}, 0
    this_run = recorded.values(run_id=run_id)
    return this_run, len(recorded.entries) - len(this_run)


def _state_dir(parameters: Mapping[str, Any]) -> pathlib.Path:
    settings = settings_module.load(**{k: v for k, v in parameters.items() if k == "state_dir"})
    return settings.state_dir


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("run", "prepare"):
        sub = commands.add_parser(command)
        sub.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE")
        sub.add_argument("-f", "--parameters-file", action="append", default=[], type=pathlib.Path)
        sub.add_argument("--notebooks-dir", type=pathlib.Path, default=NOTEBOOKS_DIR)
        sub.add_argument(
            "--output-dir", type=pathlib.Path, default=pathlib.Path("runs" if command == "run" else "build/nbval")
        )
    commands.choices["run"].add_argument("--only", default="", help="comma-separated notebook names or numbers")
    commands.choices["run"].add_argument("--no-progress", action="store_true")
    return parser


def _select(only: str) -> list[str]:
    if not only:
        return list(NOTEBOOKS)
    wanted = [item.strip() for item in only.split(",") if item.strip()]
    chosen = [name for name in NOTEBOOKS if any(name == w or name.split("_")[0] == w.zfill(2) for w in wanted)]
    if len(chosen) != len(wanted):
        raise errors.ConfigError("--only", only, f"names notebooks that do not exist; known: {list(NOTEBOOKS)}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    arguments = _parser().parse_args(argv)
    try:
        parameters = load_parameters(files=arguments.parameters_file, assignments=arguments.parameter)
        if arguments.command == "prepare":
            prepared = prepare(
                parameters=parameters, output_dir=arguments.output_dir, notebooks_dir=arguments.notebooks_dir
            )
            for path in prepared:
                print(path)
            return 0
        run_id = new_run_id()
        outcomes = run(
            parameters=parameters,
            output_dir=arguments.output_dir,
            notebooks_dir=arguments.notebooks_dir,
            selected=_select(arguments.only),
            progress_bar=not arguments.no_progress,
            run_id=run_id,
            # What the cells log (and 03's bar of steps, rate and time left) shows in the terminal as it comes.
            live_output=None if arguments.no_progress else sys.stderr,
        )
        this_run, earlier = highlights(_state_dir(parameters), run_id=run_id)
        print(summary(outcomes, highlights=this_run, earlier=earlier))
    except errors.HelpersError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failures = [outcome for outcome in outcomes if outcome.status == "failed"]
    if failures:
        print(f"\nFAILED: {failures[0].notebook}, {failures[0].error}\n  executed notebook: {failures[0].output}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
