"""The state file: atomic merge of sections, typed and stamped records, clear errors on a damaged file or record."""

from __future__ import annotations

import json
import pathlib

import pytest

from helpers import errors, state


def test_missing_file_reads_empty(state_dir: pathlib.Path) -> None:
    assert state.read(state_dir) == {}
    assert state.get(state_dir, "image") == {}


def test_update_merges_within_a_section(state_dir: pathlib.Path) -> None:
    state.update(state_dir, "image", {"tag": "a"})
    state.update(state_dir, "image", {"uri": "u"})
    state.update(state_dir, "model", {"version": 1})
    assert state.get(state_dir, "image") == {"tag": "a", "uri": "u"}
    assert state.get(state_dir, "model") == {"version": 1}
    assert not list(state_dir.glob(".state-*")), "temporary files are renamed away"


def test_remove_section_is_idempotent(state_dir: pathlib.Path) -> None:
    state.update(state_dir, "image", {"tag": "a"})
    state.remove(state_dir, "image")
    state.remove(state_dir, "image")
    assert "image" not in state.read(state_dir)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", "\xff\xfe"])
def test_damaged_file_names_the_file(state_dir: pathlib.Path, content: str) -> None:
    state_dir.mkdir(parents=True)
    state.path(state_dir).write_text(content, encoding="latin-1")
    with pytest.raises(errors.ConfigError, match=r"state\.json"):
        state.read(state_dir)


def test_a_record_round_trips_with_its_stamp(state_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(state.RUN_ID_ENV, "run-1")
    saved = state.save(state_dir, state.Image(uri="registry/train:abc", tag="abc", built_with="docker"))
    assert state.load(state_dir, state.Image) == saved
    assert saved.run_id == "run-1" and saved.written_at, "stamped with the run and the time"
    assert state.get(state_dir, "image")["uri"] == "registry/train:abc", "stored as a plain JSON object"


def test_the_ui_image_is_an_image_under_its_own_section(state_dir: pathlib.Path) -> None:
    state.save(state_dir, state.Image(uri="registry/ui:1", tag="1"), section="ui_image")
    assert state.load(state_dir, state.Image, section="ui_image").uri == "registry/ui:1"
    with pytest.raises(errors.MissingRecord, match=r"no image record .* run 02_build_image first"):
        state.load(state_dir, state.Image)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        (state.Image, "no image record in .*state.json: run 02_build_image first"),
        (state.Data, "no data record in .*: run 03_train first"),
        (state.Training, "no training record in .*: run 03_train first"),
        (state.Serving, "no serving record in .*: run 05_serve first"),
    ],
)
def test_a_missing_record_names_the_notebook_to_run(
    state_dir: pathlib.Path, kind: type[state.Record], message: str
) -> None:
    with pytest.raises(errors.MissingRecord, match=message) as raised:
        state.load(state_dir, kind)
    assert raised.value.notebook == kind.WRITTEN_BY and raised.value.section == kind.SECTION


def test_a_state_file_from_before_the_records_still_loads(state_dir: pathlib.Path) -> None:
    state_dir.mkdir(parents=True)
    state.path(state_dir).write_text(
        json.dumps(
            {
                "image": {"uri": "u", "tag": "t", "context": "c", "built_with": "source tree"},
                "training": {
                    "job_name": "j",
                    "model_dir": "s3://b/runs/j",
                    "export_uri": "s3://b/models/mnist",
                    "version": 1700000000,
                    "test_accuracy": 0.99,
                    "from_a_newer_version": True,
                },
                "summary": {"test accuracy (training)": "0.9900"},
            }
        )
    )
    assert state.load(state_dir, state.Image).context == "c"
    training = state.load(state_dir, state.Training)
    assert (training.version, training.test_accuracy, training.run_id) == (1700000000, 0.99, "")
    assert state.summary(state_dir).values() == {"test accuracy (training)": "0.9900"}
    assert state.summary(state_dir).values(run_id="this run") == {}, "an unstamped line is from an earlier run"


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ({"job_name": "j"}, "model_dir: Field required"),
        ("not an object", "Input should be a valid dictionary"),
        (
            {"job_name": "j", "model_dir": "m", "export_uri": "e", "version": "v1", "test_accuracy": 0.9},
            "version: Input should be a valid integer",
        ),
    ],
)
def test_a_damaged_record_says_which_field_and_to_run_again(
    state_dir: pathlib.Path, stored: object, problem: str
) -> None:
    state_dir.mkdir(parents=True)
    state.path(state_dir).write_text(json.dumps({"training": stored}))
    with pytest.raises(errors.MissingRecord, match=f"training record .*{problem}.*run 03_train again"):
        state.load(state_dir, state.Training)


def test_summary_lines_keep_the_run_that_wrote_each(state_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(state.RUN_ID_ENV, "first")
    state.add_to_summary(state_dir, {"test accuracy (training)": "0.99", "web UI": "http://a/"})
    monkeypatch.setenv(state.RUN_ID_ENV, "second")
    state.add_to_summary(state_dir, {"test accuracy (training)": "0.98"})
    recorded = state.summary(state_dir)
    assert recorded.values(run_id="second") == {"test accuracy (training)": "0.98"}
    assert recorded.values() == {"test accuracy (training)": "0.98", "web UI": "http://a/"}
    assert "web UI" in str(recorded.report())
