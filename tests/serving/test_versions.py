"""Version polling: the newest good version serves, broken ones never replace it, states read like TF Serving's."""

from __future__ import annotations

import pathlib
import shutil
import time
from collections.abc import Callable

import numpy as np
import pytest

from helpers.aws import s3
from helpers.serving import status, versions

MODEL_NAME = "mnist"
POLL_S = 0.2


def _predictions(manager: versions.VersionManager, images: np.ndarray) -> np.ndarray:
    return manager.servable(MODEL_NAME, None).predict("serving_default", {"x": images})["predictions"]


def test_first_poll_serves_the_only_version(manager: versions.VersionManager) -> None:
    assert manager.servable(MODEL_NAME, None).version == 1
    assert [entry.to_json() for entry in manager.statuses(MODEL_NAME, None)] == [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]


def test_a_new_version_replaces_the_served_one(
    manager: versions.VersionManager, base_path: pathlib.Path, exported: dict, images: np.ndarray, install: Callable
) -> None:
    install(exported[2].path, base_path, 2)
    manager.poll()
    assert manager.servable(MODEL_NAME, None).version == 2
    np.testing.assert_allclose(_predictions(manager, images), exported[2].expected(images), rtol=1e-5, atol=1e-6)
    assert [(entry.version, entry.state) for entry in manager.statuses(MODEL_NAME, None)] == [
        (2, "AVAILABLE"),
        (1, "END"),
    ]
    with pytest.raises(status.StatusError, match=r"Specific\(mnist, 1\)"):
        manager.servable(MODEL_NAME, 1)


def test_a_broken_version_never_replaces_the_served_one(
    manager: versions.VersionManager, base_path: pathlib.Path, exported: dict, install: Callable
) -> None:
    broken = base_path / "7"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"garbage")
    s3.write_marker(broken)  # uploaded whole, yet its graph is garbage
    for _ in range(3):
        manager.poll()
    assert manager.servable(MODEL_NAME, None).version == 1
    seven = manager.statuses(MODEL_NAME, 7)[0]
    assert (seven.state, seven.error_code) == ("END", "DATA_LOSS")
    # Once its files change (the copy finished), the version is tried again and serves.
    shutil.rmtree(broken)
    install(exported[2].path, base_path, 7)
    manager.poll()
    assert manager.servable(MODEL_NAME, None).version == 7


def test_a_removed_version_falls_back_to_the_previous_one(
    manager: versions.VersionManager, base_path: pathlib.Path, exported: dict, install: Callable
) -> None:
    install(exported[2].path, base_path, 2)
    manager.poll()
    shutil.rmtree(base_path / "2")
    manager.poll()
    assert manager.servable(MODEL_NAME, None).version == 1


def test_empty_or_missing_base_path_serves_nothing(tmp_path: pathlib.Path) -> None:
    manager = versions.VersionManager(model_name=MODEL_NAME, base_path=tmp_path / "absent")
    manager.poll()
    with pytest.raises(status.StatusError, match=r"Latest\(mnist\)"):
        manager.servable(MODEL_NAME, None)
    with pytest.raises(status.StatusError, match="Could not find any versions of model mnist"):
        manager.statuses(MODEL_NAME, None)


def test_unknown_model_and_version_are_not_found(manager: versions.VersionManager) -> None:
    with pytest.raises(status.StatusError, match="Could not find any versions of model other") as caught:
        manager.statuses("other", None)
    assert caught.value.http_status == 404
    with pytest.raises(status.StatusError, match="Could not find version 9 of model mnist"):
        manager.statuses(MODEL_NAME, 9)
    with pytest.raises(status.StatusError, match=r"Latest\(other\)"):
        manager.servable("other", None)


def test_the_poller_thread_picks_up_new_versions(
    manager: versions.VersionManager, base_path: pathlib.Path, exported: dict, install: Callable
) -> None:
    manager.start(interval_s=POLL_S)
    install(exported[2].path, base_path, 2)
    deadline = time.monotonic() + 60
    while manager.servable(MODEL_NAME, None).version != 2 and time.monotonic() < deadline:
        time.sleep(POLL_S)
    assert manager.servable(MODEL_NAME, None).version == 2
    with pytest.raises(ValueError, match="interval_s"):
        manager.start(interval_s=0)
