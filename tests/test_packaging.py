"""Packaging: conda and pip users get the same pinned set; notebooks follow the conventions."""

from __future__ import annotations

import json
import pathlib
import re
import tomllib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_dependency_is_pinned_exactly() -> None:
    project = _pyproject()["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z0-9,]+\])?==[0-9][0-9A-Za-z.]*", requirement), requirement


def test_environment_yml_parses_and_names_the_same_pins() -> None:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert environment["name"] == "kubeflow-mnist"
    (pip_section,) = [item for item in environment["dependencies"] if isinstance(item, dict)]
    project = _pyproject()["project"]
    assert sorted(pip_section["pip"]) == sorted(project["dependencies"] + project["optional-dependencies"]["test"])
    python = next(item for item in environment["dependencies"] if isinstance(item, str) and item.startswith("python="))
    assert python == "python=3.11"
    assert ">=3.11" in project["requires-python"]


def _cells(path: pathlib.Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: pathlib.Path) -> None:
    notebook = json.loads(path.read_text())
    assert "papermill" not in notebook["metadata"]
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, f"strip outputs: {path.name}"
        assert "injected-parameters" not in cell["metadata"].get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_follows_the_narrative_conventions(path: pathlib.Path) -> None:
    cells = _cells(path)
    preamble = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and preamble.startswith("# "), "first cell: an H1 title"
    for word in ("Prerequisites", "Runtime", "Cost", "Clean-up"):
        assert word in preamble, f"the preamble says {word}"
    parameters = cells[1]
    assert parameters["cell_type"] == "code" and "parameters" in parameters["metadata"].get("tags", [])
    for line in "".join(parameters["source"]).splitlines():
        assert re.fullmatch(r"\w+: (str|int|float|bool) = .+  # .+", line), f"typed, with a comment: {line!r}"
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            assert not re.search(r"^\s*(def|class) ", source, re.MULTILINE), "logic lives in helpers, not in cells"
            assert len(source.splitlines()) <= 25, "cells stay short"
    assert "## Clean-up" in "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_secret_in_a_notebook(path: pathlib.Path) -> None:
    text = path.read_text()
    assert not re.search(r"(AKIA|ASIA)[A-Z0-9]{16}", text)
    assert "aws_secret_access_key" not in text.lower()
