"""Watch a model base path and keep its newest loadable version serving, as TF Serving does.

Versions are numeric subdirectories of the base path that are complete: they hold the upload's
completion marker (`s3.COMPLETE_MARKER`, written last) and every file it lists. On a cluster the
s3-sync sidecar promotes only such versions to TF Serving; locally the object-store folder is the
base path, so this check stands in for the sidecar and a half-uploaded version is never even tried.
Each poll tries the complete versions newer than the one being served, newest first; the served
version is swapped only after its successor has loaded and run, so a broken directory never takes
serving down. A directory that failed is tried again once its files change.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import threading
from collections.abc import Callable
from typing import Any

from helpers.aws import s3
from helpers.serving import savedmodel, status

logger = logging.getLogger(__name__)

Loader = Callable[..., savedmodel.LoadedVersion]
Fingerprint = tuple[tuple[str, int, int], ...]


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """One version's state as TF Serving reports it (START LOADING AVAILABLE UNLOADING END)."""

    version: int
    state: str
    error_code: str = "OK"
    error_message: str = ""

    def to_json(self) -> dict[str, Any]:
        """The `model_version_status` entry TF Serving writes (the version is a string)."""
        return {
            "version": str(self.version),
            "state": self.state,
            "status": {"error_code": self.error_code, "error_message": self.error_message},
        }


class VersionManager:
    """Loads the newest good version of one model and answers which version serves a request."""

    def __init__(self, *, model_name: str, base_path: pathlib.Path, loader: Loader = savedmodel.load) -> None:
        self.model_name = model_name
        self.base_path = base_path
        self._loader = loader
        self._lock = threading.Lock()
        self._served: savedmodel.LoadedVersion | None = None
        self._statuses: dict[int, VersionStatus] = {}
        self._failed: dict[int, Fingerprint] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> None:
        """Scan the base path once and load a newer version if one is good; returns None, never raises
        for a bad version (its status records why)."""
        found = self._scan()
        served = self._served
        candidates = sorted(found, reverse=True)
        if served is not None and served.version in found:
            candidates = [version for version in candidates if version > served.version]
        for version in candidates:
            fingerprint = _fingerprint(found[version])
            if self._failed.get(version) == fingerprint:
                continue
            self._set(VersionStatus(version, "LOADING"))
            try:
                loaded = self._loader(found[version], version=version)
            except status.StatusError as e:
                logger.warning("version %d of model %s cannot serve: %s", version, self.model_name, e.message)
                self._failed[version] = fingerprint
                self._set(VersionStatus(version, "END", e.code, e.message))
                continue
            self._failed.pop(version, None)
            self._swap(loaded)
            return
        if served is not None and served.version not in found:
            logger.warning("version %d of model %s was removed; unloading it", served.version, self.model_name)
            self._swap(None)

    def start(self, *, interval_s: float) -> None:
        """Poll every `interval_s` seconds in a daemon thread until `stop`; returns None."""
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self._thread = threading.Thread(
            target=self._run, args=(interval_s,), name=f"poll-{self.model_name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the poller to finish its current scan; returns None."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def servable(self, model_name: str, version: int | None) -> savedmodel.LoadedVersion:
        """The loaded version answering a request (latest when `version` is None); raises
        StatusError(NOT_FOUND) like TF Serving when there is none."""
        served = self._served
        if model_name != self.model_name or served is None or version not in (None, served.version):
            request = f"Latest({model_name})" if version is None else f"Specific({model_name}, {version})"
            raise status.StatusError("NOT_FOUND", f"Servable not found for request: {request}")
        return served

    def statuses(self, model_name: str, version: int | None) -> list[VersionStatus]:
        """The known versions, newest first (only `version` when given); raises StatusError(NOT_FOUND)."""
        with self._lock:
            known = dict(self._statuses) if model_name == self.model_name else {}
        if version is not None:
            if version not in known:
                raise status.StatusError("NOT_FOUND", f"Could not find version {version} of model {model_name}")
            return [known[version]]
        if not known:
            raise status.StatusError("NOT_FOUND", f"Could not find any versions of model {model_name}")
        return [known[number] for number in sorted(known, reverse=True)]

    def _run(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.poll()

    def _scan(self) -> dict[int, pathlib.Path]:
        try:
            entries = list(self.base_path.iterdir())
        except OSError as e:
            logger.warning("cannot list model base path %s: %s", self.base_path, e)
            return {}
        return {
            int(entry.name): entry
            for entry in entries
            if entry.name.isascii() and entry.name.isdigit() and entry.is_dir() and s3.is_complete(entry)
        }

    def _set(self, version_status: VersionStatus) -> None:
        with self._lock:
            self._statuses[version_status.version] = version_status

    def _swap(self, loaded: savedmodel.LoadedVersion | None) -> None:
        with self._lock:
            previous, self._served = self._served, loaded
            if loaded is not None:
                self._statuses[loaded.version] = VersionStatus(loaded.version, "AVAILABLE")
            if previous is not None:
                self._statuses[previous.version] = VersionStatus(previous.version, "END")
        if loaded is not None:
            logger.info("serving version %d of model %s", loaded.version, self.model_name)


def _fingerprint(path: pathlib.Path) -> Fingerprint:
    """Names, sizes and modification times of every file under `path`: changes when a copy goes on."""
    entries = []
    try:
        for file in sorted(path.rglob("*")):
            stat = file.stat()
            entries.append((str(file.relative_to(path)), stat.st_size, stat.st_mtime_ns))
    except OSError:
        # The directory changed while we walked it: an empty fingerprint differs from the next one.
        return ()
    return tuple(entries)
