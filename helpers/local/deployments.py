"""Run a Deployment's container as a detached local server that outlives the notebook kernel.

papermill ends each notebook's kernel, yet 06_ui needs the server 05_serve started, so a
Deployment runs as a process in its own session, recorded (pid + start time) under
`<state_dir>/local/deployments/<name>.json`; a later kernel finds, probes, replaces or stops
it through that record and never signals an unrelated process that reused the pid. Services
map to loopback URLs; ConfigMap volumes become files; VirtualServices have no local meaning.
"""

from __future__ import annotations

import json
import logging
import pathlib
import shutil
import time
from collections.abc import Mapping
from typing import Any, TypedDict

from helpers import errors, files, manifests, settings as settings_module
from helpers.local import containers, pids, probes, restarts, services, supervisor

logger = logging.getLogger(__name__)

# Containers (sidecars or init containers) so named copy the s3:// URI in their env into the
# volumes they mount; locally those volumes are the object-store folder itself and they do not run.
SYNC_SIDECAR = "s3-sync"
# Exit code reported for a recorded server that died in an earlier kernel (its real code is lost).
UNKNOWN_EXIT_CODE = -1

# Servers this kernel started, kept so that they are reaped (no zombies, no ResourceWarning).
_LAUNCHED: dict[int, supervisor.Process] = {}


class DeploymentRecord(TypedDict):
    """What a later kernel needs to find a local Deployment again."""

    name: str
    process: pids.ProcessRecord
    log: str
    services: dict[str, str]
    readiness: probes.Readiness


def _dir(settings: settings_module.Settings) -> pathlib.Path:
    return services.local_dir(settings) / "deployments"


def _record_path(name: str, *, settings: settings_module.Settings) -> pathlib.Path:
    return _dir(settings) / f"{name}.json"


def read_record(name: str, *, settings: settings_module.Settings) -> DeploymentRecord | None:
    """The record of local Deployment `name`; None when it is not running here."""
    path = _record_path(name, settings=settings)
    if not path.exists():
        return None
    record: DeploymentRecord = json.loads(path.read_text())
    return record


def _owner(name: str) -> str:
    return f"deployment/{name}"


def _volume_paths(
    pod: Mapping[str, Any],
    *,
    name: str,
    config_maps: Mapping[str, Mapping[str, Any]],
    settings: settings_module.Settings,
) -> dict[str, pathlib.Path]:
    """Each pod volume as a local folder: ConfigMaps written out, s3-sync volumes as the object store."""
    synced: dict[str, pathlib.Path] = {}
    for copier in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        if not str(copier.get("name", "")).startswith(SYNC_SIDECAR):
            if copier in (pod.get("initContainers") or []):
                logger.warning("%s: init container %s is not run locally", name, copier.get("name"))
            continue
        sources = [v["value"] for v in copier.get("env") or [] if str(v.get("value", "")).startswith("s3://")]
        if not sources:
            raise errors.ConfigError(f"{SYNC_SIDECAR}.env", name, "an s3-sync container needs an s3:// env value")
        for mount in copier.get("volumeMounts") or []:
            synced[mount["name"]] = containers.local_object_path(sources[0], settings=settings)
    paths: dict[str, pathlib.Path] = {}
    for volume in pod.get("volumes") or []:
        folder = _dir(settings) / name / "volumes" / volume["name"]
        if "configMap" in volume:
            config_map = config_maps.get(volume["configMap"]["name"])
            if config_map is None:
                raise errors.ConfigError("configMap", volume["configMap"]["name"], "not among the applied resources")
            data = config_map.get("data") or {}
            items = volume["configMap"].get("items") or [{"key": key, "path": key} for key in data]
            for item in items:
                (folder / item["path"]).parent.mkdir(parents=True, exist_ok=True)
                (folder / item["path"]).write_text(data[item["key"]])
            paths[volume["name"]] = folder
        elif volume["name"] in synced:
            paths[volume["name"]] = synced[volume["name"]]
        elif "emptyDir" in volume:
            paths[volume["name"]] = folder
        else:
            logger.warning("volume %s of %s has no local equivalent and is left out", volume["name"], name)
            continue
        paths[volume["name"]].mkdir(parents=True, exist_ok=True)
    return paths


def _mounts(container: Mapping[str, Any], volumes: Mapping[str, pathlib.Path]) -> dict[str, pathlib.Path]:
    mounts = {}
    for mount in container.get("volumeMounts") or []:
        if mount["name"] in volumes:
            mounts[mount["mountPath"]] = volumes[mount["name"]] / mount.get("subPath", "")
    return mounts


def _service_urls(
    deployment: Mapping[str, Any],
    process: containers.LocalProcess,
    *,
    resources: list[dict[str, Any]],
    settings: settings_module.Settings,
) -> dict[str, str]:
    """Register the Services that select this Deployment's pods; returns Service name -> local URL."""
    name = deployment["metadata"]["name"]
    labels = deployment["spec"]["template"].get("metadata", {}).get("labels") or {}
    urls = {}
    for service in resources:
        selector = service.get("spec", {}).get("selector") or {}
        if service.get("kind") != "Service" or not selector or not selector.items() <= labels.items():
            continue
        port_map = {}
        for port in service["spec"].get("ports") or []:
            target = port.get("targetPort", port["port"])
            container_port = process.port_names.get(target) if isinstance(target, str) else int(target)
            if container_port in process.ports:
                port_map[int(port["port"])] = process.ports[container_port]
        if not port_map:
            continue
        services.register(
            settings=settings,
            name=service["metadata"]["name"],
            namespace=service["metadata"].get("namespace") or settings.namespace,
            owner=_owner(name),
            ports=port_map,
        )
        http = int(manifests.http_port(service)["port"])
        urls[service["metadata"]["name"]] = f"http://127.0.0.1:{port_map.get(http, next(iter(port_map.values())))}"
    return urls


def _launch(spec: supervisor.ProcessSpec, *, log_path: pathlib.Path) -> supervisor.Process:
    """Start `spec` in its own session, writing to `log_path`, so it outlives this kernel."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = supervisor.launch(spec, stdout=log, log_path=log_path)
    _LAUNCHED[process.pid] = process
    return process


def local_process(
    deployment: Mapping[str, Any], *, resources: list[dict[str, Any]], settings: settings_module.Settings
) -> tuple[containers.LocalProcess, probes.Readiness]:
    """The local process standing in for `deployment`, and its readiness probe; writes its ConfigMap files.

    Raises ConfigError for a pod with other than one container (s3-sync sidecars aside), a
    missing ConfigMap or a command with no local equivalent.
    """
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    main = [c for c in pod.get("containers") or [] if not str(c.get("name", "")).startswith(SYNC_SIDECAR)]
    if len(main) != 1:
        raise errors.ConfigError("containers", name, "the local backend runs Deployments with one container")
    if int(deployment["spec"].get("replicas", 1)) > 1:
        logger.info("%s: one local process stands in for %s replicas", name, deployment["spec"]["replicas"])
    config_maps = {r["metadata"]["name"]: r for r in resources if r.get("kind") == "ConfigMap"}
    volumes = _volume_paths(pod, name=name, config_maps=config_maps, settings=settings)
    process = containers.translate(main[0], name=name, settings=settings, mounts=_mounts(main[0], volumes))
    return process, probes.from_container(main[0], process)


def _start(
    deployment: dict[str, Any], *, resources: list[dict[str, Any]], settings: settings_module.Settings
) -> dict[str, str]:
    name = deployment["metadata"]["name"]
    delete(name, settings=settings)
    process, readiness = local_process(deployment, resources=resources, settings=settings)
    log_path = _dir(settings) / f"{name}.log"
    popen = _launch(process.spec, log_path=log_path)
    record: DeploymentRecord = {
        "name": name,
        "process": pids.record(popen.pid, process.spec.argv),
        "log": str(log_path),
        "services": {},
        "readiness": readiness,
    }
    # Recorded before anything else can fail, so that delete() can always find the process.
    files.write_json(_record_path(name, settings=settings), record)
    record["services"] = _service_urls(deployment, process, resources=resources, settings=settings)
    files.write_json(_record_path(name, settings=settings), record)
    logger.info("%s: started pid %s, log %s, %s", name, popen.pid, log_path, record["services"] or "no Service")
    return record["services"]


def apply(resources: list[dict[str, Any]], *, settings: settings_module.Settings) -> dict[str, str]:
    """Start (or replace) every Deployment in `resources`; returns Service name -> local URL.

    Raises ConfigError for a Deployment the local backend cannot run, ProcessFailed when a
    server cannot be started.
    """
    urls: dict[str, str] = {}
    for resource in resources:
        kind = resource.get("kind")
        if kind == "VirtualService":
            logger.info(
                "%s: there is no Istio gateway off-cluster; the Service URL is the way in",
                resource["metadata"]["name"],
            )
        elif kind == "Deployment":
            urls.update(_start(resource, resources=resources, settings=settings))
    return urls


def _exit_code(pid: int) -> int:
    launched = _LAUNCHED.get(pid)
    code = launched.poll() if launched is not None else None
    return UNKNOWN_EXIT_CODE if code is None else restarts.exit_code_of(code)


def wait_ready(name: str, *, settings: settings_module.Settings, timeout_s: float | None = None) -> None:
    """Block until Deployment `name` passes its readinessProbe on its local port.

    Raises ConfigError when it is not running here, ProcessFailed (with the log tail) when
    its process died, WaitTimeout after `timeout_s` (default settings.wait_timeout_s).
    """
    record = read_record(name, settings=settings)
    if record is None:
        raise errors.ConfigError("deployment", name, "is not running on the local backend; apply it first")
    timeout_s = settings.wait_timeout_s if timeout_s is None else timeout_s
    log_path = pathlib.Path(record["log"])
    deadline = time.monotonic() + timeout_s
    while True:
        if not pids.is_alive(record["process"]):
            code = _exit_code(record["process"]["pid"])
            raise errors.ProcessFailed(name, code, log_path=str(log_path), tail=supervisor.tail(log_path))
        if probes.passes(record["readiness"]):
            return
        if time.monotonic() >= deadline:
            probe = record["readiness"]
            last = f"{probe['kind']} probe on port {probe['port']} not passing; log tail:\n{supervisor.tail(log_path)}"
            raise errors.WaitTimeout(f"deployment {name} to be ready", timeout_s, last_state=last)
        time.sleep(probes.PROBE_INTERVAL_S)


def delete(name: str, *, settings: settings_module.Settings) -> bool:
    """Stop local Deployment `name` and forget it; returns False when nothing was running (idempotent)."""
    record = read_record(name, settings=settings)
    services.remove_owned(settings=settings, owner=_owner(name))
    if record is None:
        return False
    stopped = pids.stop(record["process"], grace_s=settings.stop_grace_s)
    launched = _LAUNCHED.pop(record["process"]["pid"], None)
    if launched is not None:
        launched.wait()
    _record_path(name, settings=settings).unlink(missing_ok=True)
    shutil.rmtree(_dir(settings) / name, ignore_errors=True)
    return stopped


def list_running(settings: settings_module.Settings) -> list[str]:
    """The names of local Deployments whose process is still alive."""
    if not _dir(settings).is_dir():
        return []
    running = []
    for path in sorted(_dir(settings).glob("*.json")):
        record = read_record(path.stem, settings=settings)
        if record is not None and pids.is_alive(record["process"]):
            running.append(path.stem)
    return running


def stop_all(settings: settings_module.Settings) -> list[str]:
    """Stop every recorded local Deployment (clean-up); returns the names that were running."""
    if not _dir(settings).is_dir():
        return []
    names = sorted(path.stem for path in _dir(settings).glob("*.json"))
    return [name for name in names if delete(name, settings=settings)]
