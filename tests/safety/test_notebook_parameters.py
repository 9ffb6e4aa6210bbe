"""A wrong-typed or out-of-range notebook parameter stops the notebook in its first code cell.

Each case papermill-runs one real notebook with one bad value (on top of the fast test parameters,
so a notebook that wrongly accepts it still finishes quickly) and reads the executed notebook: the
first code cell after the injected parameters must fail with a ConfigError naming the parameter,
and no later cell may have run.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import cleanup, pipeline, settings as settings_module

FAST_PARAMETERS = pathlib.Path(__file__).resolve().parents[1] / "fast-params.yaml"

# (notebook, parameter, bad value): for every number, flag or text parameter that is not a
# setting, one value of the wrong type or out of range (settings are checked by helpers.settings).
CASES = [
    ("01_aws_setup", "region", 5),
    ("01_aws_setup", "region", "mars"),
    ("01_aws_setup", "node_role_name", 5),
    ("02_build_image", "builder_image", ""),
    ("03_train", "num_workers", 0),
    ("03_train", "num_ps", True),
    ("03_train", "train_steps", -1),
    ("03_train", "batch_size", "big"),
    ("03_train", "learning_rate", 2.0),
    ("03_train", "train_subset", -5),
    ("03_train", "test_subset", 10_001),
    ("03_train", "data_uri", 5),
    ("04_tensorboard", "wait_for_runs_s", 0),
    ("04_tensorboard", "tensorboard_image", ""),
    ("05_serve", "num_scored", 99_999),
    ("05_serve", "num_shown", 0),
    ("05_serve", "seed", -1),
    ("05_serve", "available_timeout_s", "soon"),
    ("05_serve", "model_server_image", " "),
    ("06_ui", "clean_up_at_end", "False"),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Fast parameters on a state folder where 01 and 02 ran, so 03 finds its bucket and image.

    Stops whatever a case that wrongly got past its first cell started.
    """
    state_dir = tmp_path_factory.mktemp("state")
    parameters = {**pipeline.load_parameters(files=[FAST_PARAMETERS], assignments=[]), "state_dir": str(state_dir)}
    outcomes = pipeline.run(
        parameters=parameters,
        output_dir=tmp_path_factory.mktemp("setup-runs"),
        selected=["01_aws_setup", "02_build_image"],
        progress_bar=False,
    )
    assert [outcome.status for outcome in outcomes] == ["ok", "ok"], [outcome.error for outcome in outcomes]
    yield parameters
    cleanup.clean_up(settings=settings_module.load(backend="local", state_dir=str(state_dir)))


def _code_cells(executed: dict[str, Any]) -> list[dict[str, Any]]:
    """The code cells from the papermill-injected parameters cell on (that cell first)."""
    cells = executed["cells"]
    start = next(i for i, cell in enumerate(cells) if "injected-parameters" in cell["metadata"].get("tags", []))
    return [cell for cell in cells[start:] if cell["cell_type"] == "code"]


@pytest.mark.parametrize(("notebook", "parameter", "value"), CASES, ids=[f"{n[:2]}-{p}={v!r}" for n, p, v in CASES])
def test_bad_parameter_stops_the_first_code_cell(
    prepared: dict[str, Any], tmp_path: pathlib.Path, notebook: str, parameter: str, value: object
) -> None:
    (outcome,) = pipeline.run(
        parameters={**prepared, parameter: value},
        output_dir=tmp_path,
        notebooks_dir=pipeline.NOTEBOOKS_DIR,
        selected=[notebook],
        progress_bar=False,
    )
    assert outcome.status == "failed", f"{notebook} accepted {parameter}={value!r}"
    assert outcome.output is not None
    injected, first, *later = _code_cells(json.loads(outcome.output.read_text()))
    errors = [output for output in first["outputs"] if output["output_type"] == "error"]
    assert errors, f"{notebook} did not fail in its first code cell but in: {outcome.error}"
    assert errors[0]["ename"] == "ConfigError", errors[0]
    assert f"parameter {parameter!r}" in errors[0]["evalue"], errors[0]["evalue"]
    assert f"\n{parameter} = " in "".join(injected["source"]), "papermill injected the bad value"
    assert all(cell["execution_count"] is None for cell in later), "no cell after the failing one ran"
