"""Plan a pod: each of its containers as a local process spec, with volumes, env and probes.

The container translation is the local executor's (`helpers.local.containers`): the same program
table, `$(VAR)` expansion and path rules. On a node the differences are: every declared port keeps
its number (the pod has its own address), `0.0.0.0` becomes the pod IP, `s3://` stays S3 (the node
gives containers AWS_ENDPOINT_URL when S3 is moto), cluster names resolve through the shim (`clusterdns`;
rewritten to addresses in env and args only where there is no shim, see `_names`), and
`s3-sync*` containers run the node's boto3 stand-in for `aws s3 sync` (`helpers.local.node.s3sync`).
A container with no local equivalent is planned with `start_error`, reported as the runtime's StartError.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import pathlib
from collections.abc import Mapping
from typing import Any, Literal

from helpers import errors, settings as settings_module
from helpers.aws import s3
from helpers.local import containers, supervisor
from helpers.local.node import addresses, clusterdns, podenv, shim

logger = logging.getLogger(__name__)

SYNC_PREFIX = "s3-sync"
# Variables a container inherits from the node (an image would set its own PATH, HOME and locale).
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
ContainerKind = Literal["init", "sidecar", "main"]


@dataclasses.dataclass(frozen=True)
class Probe:
    """A probe aimed at the pod's address: kind "http", "tcp" or "exec" (exec always passes here)."""

    kind: str
    port: int
    path: str = "/"
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    failure_threshold: int = 3


@dataclasses.dataclass(frozen=True)
class ContainerPlan:
    """One container as the node runs it; `process` is None when it cannot run (`start_error` says why)."""

    name: str
    image: str
    kind: ContainerKind
    process: supervisor.ProcessSpec | None
    start_error: str = ""
    readiness: Probe | None = None
    startup: Probe | None = None
    liveness: Probe | None = None


@dataclasses.dataclass(frozen=True)
class PodContext:
    """What the node knows when it plans a pod."""

    settings: settings_module.Settings
    pod_ip: str
    resolver: addresses.Resolver
    secrets: podenv.SourceReader
    config_maps: podenv.SourceReader
    node_allocatable: Mapping[str, str]
    pod_dir: pathlib.Path
    shim: pathlib.Path | None
    hosts_file: pathlib.Path
    """The node's cluster names (`clusterdns`), which the shim answers getaddrinfo from."""
    node_env: Mapping[str, str]
    """Extra variables every container gets (AWS_ENDPOINT_URL when S3 is moto)."""


def _probe(container: Mapping[str, Any], key: str) -> Probe | None:
    probe = container.get(key)
    if not probe:
        return None
    timing = Probe(
        kind="exec",
        port=0,
        initial_delay_s=float(probe.get("initialDelaySeconds", 0)),
        period_s=float(probe.get("periodSeconds", 10)),
        timeout_s=float(probe.get("timeoutSeconds", 1)),
        failure_threshold=int(probe.get("failureThreshold", 3)),
    )
    action = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc")
    if action is None:
        return timing
    port = action["port"]
    if isinstance(port, str) and not port.isdigit():
        named = {p.get("name"): int(p["containerPort"]) for p in container.get("ports") or []}
        if port not in named:
            raise errors.ConfigError(f"{key}.port", port, "is not a declared containerPort")
        port = named[port]
    kind = "http" if "httpGet" in probe else "tcp"
    return dataclasses.replace(timing, kind=kind, port=int(port), path=action.get("path", "/"))


def _write_files(folder: pathlib.Path, data: Mapping[str, str], items: list[dict[str, Any]] | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for item in items or [{"key": key, "path": key} for key in data]:
        if item["key"] in data:
            target = folder / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[item["key"]])


def volumes(pod: Mapping[str, Any], context: PodContext) -> dict[str, pathlib.Path]:
    """Each pod volume as a local folder: emptyDir, configMap and secret files, hostPath as is.

    Projected volumes (the service-account token) and claims become empty folders, with a log line.
    Raises ConfigError for a required ConfigMap or Secret that does not exist.
    """
    namespace = pod["metadata"]["namespace"]
    paths: dict[str, pathlib.Path] = {}
    for volume in pod.get("spec", {}).get("volumes") or []:
        folder = context.pod_dir / "volumes" / volume["name"]
        if "hostPath" in volume:
            paths[volume["name"]] = pathlib.Path(volume["hostPath"]["path"])
            continue
        for key, reader in (("configMap", context.config_maps), ("secret", context.secrets)):
            if key in volume:
                source = volume[key]
                source_name = source.get("name") or source.get("secretName", "")
                data = reader(namespace, source_name)
                if data is None and not source.get("optional"):
                    raise errors.ConfigError(key, source_name, f"not found in namespace {namespace}")
                _write_files(folder, data or {}, source.get("items"))
        if not {"emptyDir", "configMap", "secret"} & volume.keys():
            logger.info("%s: volume %s is an empty folder on this node", pod["metadata"]["name"], volume["name"])
        folder.mkdir(parents=True, exist_ok=True)
        paths[volume["name"]] = folder
    return paths


def _mounts(container: Mapping[str, Any], volume_paths: Mapping[str, pathlib.Path]) -> dict[str, pathlib.Path]:
    return {
        mount["mountPath"]: volume_paths[mount["name"]] / mount.get("subPath", "")
        for mount in container.get("volumeMounts") or []
        if mount["name"] in volume_paths
    }


def _sync_container(
    container: Mapping[str, Any], env: list[dict[str, str]], mounts: Mapping[str, pathlib.Path]
) -> dict[str, Any]:
    """The `s3-sync` container as the node's boto3 stand-in: SOURCE (its s3:// env value) into its mount.

    A script that checks the completion marker (serving's) syncs whole model versions; any other
    (TensorBoard's `aws s3 sync` loop) mirrors the prefix.
    """
    sources = [v["value"] for v in env if v["value"].startswith("s3://")]
    if not sources or not mounts:
        raise errors.ConfigError(container["name"], None, "an s3-sync container needs an s3:// env value and a mount")
    target = next(iter(mounts))
    script = " ".join(str(word) for word in [*(container.get("command") or []), *(container.get("args") or [])])
    mode = [] if s3.COMPLETE_MARKER in script else ["--mirror"]
    command = ["python", "-m", "helpers.local.node.s3sync", *mode, sources[0], target]
    return {**container, "command": command, "args": []}


def _names(text: str, context: PodContext) -> str:
    """`text` as the container gets it: as written where the shim resolves cluster names (DNS's way, which
    also leaves alone a value that only looks like a name, as JOBSET_NAME does), rewritten to addresses
    without a shim (no C compiler). Either way the Service names in it are noted, so that the agent holds
    the pod until they resolve (the training operator creates a TFJob's Services just after its pods)."""
    if context.shim is not None:
        context.resolver.scan(text)
        return text
    return context.resolver.rewrite(text)


def plan_container(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    kind: ContainerKind,
    context: PodContext,
    volume_paths: Mapping[str, pathlib.Path],
) -> ContainerPlan:
    """Plan one container; a translation or configuration failure becomes `start_error`."""
    name, image = str(container["name"]), str(container.get("image", ""))
    try:
        env = podenv.resolve(
            pod,
            container,
            secrets=context.secrets,
            config_maps=context.config_maps,
            node_allocatable=context.node_allocatable,
        )
        env = [{"name": v["name"], "value": _names(v["value"], context)} for v in env]
        mounts = _mounts(container, volume_paths)
        shaped = {**container, "env": env, "envFrom": []}
        if name.startswith(SYNC_PREFIX):
            shaped = _sync_container(shaped, env, mounts)
        shaped["command"] = [_names(str(w), context) for w in shaped.get("command") or []]
        shaped["args"] = [_names(str(w), context) for w in shaped.get("args") or []]
        environ = {key: os.environ[key] for key in INHERITED if key in os.environ}
        environ.update(context.node_env)
        environ["HOSTNAME"] = pod["metadata"]["name"]
        environ.update(
            shim.environment(
                context.shim,
                hosts_file=context.hosts_file,
                search=clusterdns.search_path(pod["metadata"]["namespace"]),
                pod_ip=context.pod_ip,
                inherited_preload=os.environ.get("LD_PRELOAD", ""),
            )
        )
        declared = [int(p["containerPort"]) for p in container.get("ports") or []]
        local = containers.translate(
            shaped,
            name=name,
            settings=context.settings,
            assigned_ports={port: port for port in declared},
            mounts=mounts,
            environ=environ,
            bind_address=context.pod_ip,
            object_store=False,
        )
        if name.startswith(SYNC_PREFIX):
            # The stand-in is ours: it runs from the repository whatever image the manifest names.
            local.spec.env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(containers.REPO_ROOT), local.spec.env.get("PYTHONPATH")])
            )
        return ContainerPlan(
            name=name,
            image=image,
            kind=kind,
            process=local.spec,
            readiness=_probe(container, "readinessProbe"),
            startup=_probe(container, "startupProbe"),
            liveness=_probe(container, "livenessProbe"),
        )
    except errors.ConfigError as e:
        return ContainerPlan(name=name, image=image, kind=kind, process=None, start_error=str(e))


def plan(pod: Mapping[str, Any], context: PodContext) -> list[ContainerPlan]:
    """Every container of `pod` in start order: init containers (sidecars among them), then the main ones.

    Raises ConfigError when a volume's ConfigMap or Secret is missing (the pod cannot start yet).
    """
    volume_paths = volumes(pod, context)
    spec = pod.get("spec", {})
    plans = []
    for container in spec.get("initContainers") or []:
        kind: ContainerKind = "sidecar" if container.get("restartPolicy") == "Always" else "init"
        plans.append(plan_container(pod, container, kind, context, volume_paths))
    for container in spec.get("containers") or []:
        plans.append(plan_container(pod, container, "main", context, volume_paths))
    return plans


def decode_secret(data: Mapping[str, str] | None) -> dict[str, str] | None:
    """A Secret's `data` with its base64 values decoded (None stays None)."""
    if data is None:
        return None
    return {key: base64.b64decode(value).decode("utf-8", errors="replace") for key, value in data.items()}
