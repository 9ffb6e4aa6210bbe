"""The headless runner: parameters, order, failure reporting, not-yet-written notebooks, this run's results."""

from __future__ import annotations

import io
import json
import os
import pathlib

import nbformat
import pytest

from helpers import errors, pipeline, state


def _notebook(path: pathlib.Path, *, parameters: str, body: str) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(notebook, path)


@pytest.fixture
def notebooks_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(
        folder / "01_aws_setup.ipynb",
        parameters="out: str = ''\ncount: int = 1",
        body="import pathlib\npathlib.Path(out).write_text(str(count * 2))",
    )
    _notebook(folder / "02_build_image.ipynb", parameters="out: str = ''", body="raise RuntimeError('image broke')")
    _notebook(folder / "03_train.ipynb", parameters="out: str = ''", body="pass")
    return folder


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [("n=3", 3), ("lr=0.5", 0.5), ("flag=false", False), ("name=abc", "abc"), ("empty=", "")],
)
def test_assignments_are_read_as_yaml(assignment: str, expected: object) -> None:
    (name,) = pipeline.parse_assignments([assignment])
    assert pipeline.parse_assignments([assignment])[name] == expected


@pytest.mark.parametrize("assignment", ["novalue", "1x=2", "a-b=1"])
def test_bad_assignment_is_refused(assignment: str) -> None:
    with pytest.raises(errors.ConfigError, match="NAME=VALUE"):
        pipeline.parse_assignments([assignment])


def test_files_then_assignments(tmp_path: pathlib.Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text("count: 1\nout: x\n")
    second = tmp_path / "b.yaml"
    second.write_text("count: 2\n")
    parameters = pipeline.load_parameters(files=[first, second], assignments=["out=y"])
    assert parameters == {"count": 2, "out": "y"}


def test_params_file_must_be_a_mapping(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n")
    with pytest.raises(errors.ConfigError, match="mapping"):
        pipeline.load_parameters(files=[bad], assignments=[])


def test_unknown_parameter_is_named(notebooks_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        pipeline.run(parameters={"cuont": 3}, output_dir=tmp_path / "runs", notebooks_dir=notebooks_dir)
    assert caught.value.parameter == "cuont"


def test_run_stops_at_the_failure_and_names_it(notebooks_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "result.txt"
    outcomes = pipeline.run(
        parameters={"out": str(out), "count": 21},
        output_dir=tmp_path / "runs",
        notebooks_dir=notebooks_dir,
        progress_bar=False,
    )
    statuses = {outcome.notebook: outcome.status for outcome in outcomes}
    assert statuses == {
        "01_aws_setup": "ok",
        "02_build_image": "failed",
        "03_train": "not run",
        "04_tensorboard": "not written",
        "05_serve": "not written",
        "06_ui": "not written",
    }
    assert out.read_text() == "42"
    failed = outcomes[1]
    assert "RuntimeError: image broke" in failed.error
    assert "cell" in failed.error
    assert failed.output is not None and failed.output.exists(), "the executed notebook is kept for reading"
    executed = json.loads(outcomes[0].output.read_text())  # type: ignore[union-attr]
    assert any("injected-parameters" in cell["metadata"].get("tags", []) for cell in executed["cells"])
    text = pipeline.summary(outcomes, highlights={"test accuracy": "0.99"})
    assert "not written" in text and "test accuracy: 0.99" in text


def test_main_exit_code_and_message(
    notebooks_dir: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--output-dir", str(tmp_path / "runs"), "--notebooks-dir", str(notebooks_dir)]
    code = pipeline.main(["run", "-p", f"out={tmp_path / 'o.txt'}", "--no-progress", *common])
    assert code == 1
    printed = capsys.readouterr().out
    assert "FAILED: 02_build_image" in printed
    assert "RuntimeError: image broke" in printed
    assert pipeline.main(["run", "-p", "nope=1", *common]) == 2
    assert "'nope'" in capsys.readouterr().err


def test_only_selects_by_number_or_name() -> None:
    assert pipeline._select("1,03_train") == ["01_aws_setup", "03_train"]
    with pytest.raises(errors.ConfigError, match="--only"):
        pipeline._select("9")


def test_prepare_injects_without_executing(notebooks_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    written = pipeline.prepare(parameters={"count": 5}, output_dir=tmp_path / "prepared", notebooks_dir=notebooks_dir)
    assert [path.name for path in written] == ["01_aws_setup.ipynb", "02_build_image.ipynb", "03_train.ipynb"]
    prepared = json.loads(written[0].read_text())
    injected = [cell for cell in prepared["cells"] if "injected-parameters" in cell["metadata"].get("tags", [])]
    assert "count = 5" in "".join(injected[0]["source"])
    assert all(not cell.get("outputs") for cell in prepared["cells"] if cell["cell_type"] == "code")


def test_real_01_runs_twice_in_a_row(tmp_path: pathlib.Path) -> None:
    for _ in range(2):
        outcomes = pipeline.run(
            parameters={"backend": "local", "state_dir": str(tmp_path / "state")},
            output_dir=tmp_path / "runs",
            selected=["01_aws_setup"],
            progress_bar=False,
        )
        assert [outcome.status for outcome in outcomes] == ["ok"], outcomes[0].error
    executed = outcomes[0].output.read_text()  # type: ignore[union-attr]
    assert "exists" in executed, "the second run finds the bucket the first one made"


def test_a_run_that_fails_in_03_shows_no_result_of_an_earlier_run(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir = tmp_path / "state"
    monkeypatch.setenv(state.RUN_ID_ENV, "an-earlier-run")
    state.add_to_summary(state_dir, {"test accuracy (training)": "0.9912", "web UI": "http://127.0.0.1:1/"})
    monkeypatch.delenv(state.RUN_ID_ENV)
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(
        folder / "01_aws_setup.ipynb",
        parameters="state_dir: str = ''",
        body="import pathlib\nfrom helpers import state\n"
        "state.add_to_summary(pathlib.Path(state_dir), {'bucket': 'made'})",
    )
    _notebook(folder / "02_build_image.ipynb", parameters="state_dir: str = ''", body="pass")
    _notebook(folder / "03_train.ipynb", parameters="state_dir: str = ''", body="raise RuntimeError('training broke')")
    common = ["--output-dir", str(tmp_path / "runs"), "--notebooks-dir", str(folder), "--no-progress"]
    assert pipeline.main(["run", "-p", f"state_dir={state_dir}", *common]) == 1
    printed = capsys.readouterr().out
    results = printed[printed.index("Results") :]
    assert "bucket: made" in results, "what this run wrote is shown"
    assert "0.9912" not in printed and "127.0.0.1:1" not in printed, "nothing of the earlier run reads as a result"
    assert "2 result(s) in the state file are from an earlier run" in printed
    assert state.RUN_ID_ENV not in os.environ, "the run id is the kernels', not left behind"


def test_what_cells_write_to_stderr_reaches_the_terminal_as_it_comes(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(
        folder / "01_aws_setup.ipynb",
        parameters="out: str = ''",
        body="import sys\nprint('step 3/10 loss=0.5', file=sys.stderr)\nprint('quiet on stdout')",
    )
    live = io.StringIO()
    outcomes = pipeline.run(
        parameters={},
        output_dir=tmp_path / "runs",
        notebooks_dir=folder,
        selected=["01_aws_setup"],
        progress_bar=False,
        live_output=live,
    )
    assert [outcome.status for outcome in outcomes] == ["ok"]
    assert "step 3/10 loss=0.5" in live.getvalue()
    assert "quiet on stdout" not in live.getvalue()
