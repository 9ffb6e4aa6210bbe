"""Turn a Kubernetes container spec from a rendered manifest into a local process spec.

The rules, applied in this order (see `translate`):
1. Command: the first word of `command` picks a local program: `python`/`python3` run
   `sys.executable`; `tensorboard` runs the script next to it (without `--bind_all`: servers
   stay on loopback); `tensorflow_model_server` runs `python -m helpers.serving.server`, which
   takes the same flags. A container without `command` uses its image's entrypoint, known
   only for `tensorflow/serving`. Anything else raises ConfigError.
2. `$(VAR)` references are expanded as the kubelet does: env values from the variables
   defined before them, command and args from all of them; `$$` escapes; unknown names stay.
3. `s3://bucket/key` anywhere becomes `<state_dir>/s3/bucket/key`, the local object store.
4. Image paths: our images copy files under /app (table `_image_paths`); volume mount paths
   become the local folders or files given in `mounts`. A path is rewritten when it starts a
   value or follows `=`.
5. Ports: each containerPort gets a loopback port; the number is rewritten where it is a whole
   argument or env value (`--port 8501`, `8501`), a flag's value (`--port=8501`) or follows a
   loopback host (`0.0.0.0:8501`). Other numbers are left alone.
6. Service DNS names of running local Services (`svc`, `svc.ns`, `svc.ns.svc[.cluster.local]`,
   with or without `:port`) become `127.0.0.1:<local port>`.
7. A whole value `0.0.0.0` (a server's bind address in a pod) becomes `127.0.0.1`: local
   servers listen on loopback only.
Env: the caller's environment, then the container's `env` values (secretKeyRef and envFrom
are not resolved: local runs use the caller's own credentials), then `extra_env` (TF_CONFIG).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import re
import sys
from collections.abc import Mapping
from typing import Any

from helpers import errors, settings as settings_module
from helpers.local import ports as ports_module, services, supervisor

logger = logging.getLogger(__name__)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# A pod's server binds every interface; off a cluster it binds loopback only.
ALL_INTERFACES, LOOPBACK = "0.0.0.0", "127.0.0.1"
OBJECT_STORE_DIR = "s3"  # the same folder helpers.backends.local calls the local bucket root
# Where our Dockerfiles copy the sources; the key of the image path table.
IMAGE_WORKDIR = "/app"
# Images whose name contains this are the training image even when settings name another repository.
TRAINING_IMAGE_HINT = "kubeflow-mnist"
WEBUI_IMAGE_HINT = "webui"
# Entrypoints of images used without a `command` in the manifests.
IMAGE_ENTRYPOINTS = {"tensorflow/serving": ["tensorflow_model_server"]}
# Arguments that would open a server to the network; off-cluster servers stay on loopback.
DROPPED_ARGS = {"tensorboard": {"--bind_all"}}
# Services without an explicit port in a URL are reached on HTTP's port.
DEFAULT_SERVICE_PORT = 80

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_S3 = re.compile(r"s3://([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(/[^\s\"',;]*)?")
_FLAG_NUMBER = re.compile(r"^(--?[\w.-]+=)(\d+)$")
_LOOPBACK_PORT = re.compile(r"\b(?:localhost|0\.0\.0\.0|127\.0\.0\.1):(\d+)\b")


@dataclasses.dataclass(frozen=True)
class LocalProcess:
    """A container as a local process: the spec to run and its port map."""

    spec: supervisor.ProcessSpec
    ports: dict[int, int]
    """containerPort -> loopback port."""
    port_names: dict[str, int]
    """Port name -> containerPort (probes and Services refer to ports by name)."""


def local_object_path(uri: str, *, settings: settings_module.Settings) -> pathlib.Path:
    """The local object-store path of `s3://bucket/key`; raises ConfigError for another scheme."""
    match = _S3.fullmatch(uri)
    if not match:
        raise errors.ConfigError("uri", uri, "is not an s3://bucket/key URI")
    return settings.state_dir / OBJECT_STORE_DIR / match.group(1) / (match.group(2) or "/").lstrip("/")


def _program(image: str, command: list[str]) -> tuple[list[str], str]:
    """The local argv prefix for a container command, and the command's name."""
    command = command or IMAGE_ENTRYPOINTS.get(image.split(":")[0].removeprefix("docker.io/"), [])
    if not command:
        raise errors.ConfigError("command", image, "container has no command and its image has no known entrypoint")
    name = pathlib.PurePosixPath(command[0]).name
    if re.fullmatch(r"python(3(\.\d+)?)?", name):
        return [sys.executable, *command[1:]], "python"
    if name == "tensorboard":
        return [str(pathlib.Path(sys.executable).parent / "tensorboard"), *command[1:]], name
    if name == "tensorflow_model_server":
        return [sys.executable, "-m", "helpers.serving.server", *command[1:]], name
    name_server = "tensorflow_model_server"
    raise errors.ConfigError(
        "command", command[0], f"image {image!r}: no local equivalent (known: python, tensorboard, {name_server})"
    )


def _image_paths(image: str, *, settings: settings_module.Settings) -> dict[str, pathlib.Path]:
    """Where the files an image keeps under /app live in this repository."""
    if settings.repository in image or TRAINING_IMAGE_HINT in image:
        return {f"{IMAGE_WORKDIR}/model.py": REPO_ROOT / "model" / "model.py", IMAGE_WORKDIR: REPO_ROOT}
    if WEBUI_IMAGE_HINT in image:
        return {IMAGE_WORKDIR: REPO_ROOT}
    return {}


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Expand `$(VAR)` like the kubelet: `$$` gives `$`, unknown references are kept."""

    def _one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return variables.get(match.group(1), match.group(0))

    return _VAR.sub(_one, text)


def _container_env(container: Mapping[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for variable in container.get("env") or []:
        if "valueFrom" in variable:
            logger.debug("%s: valueFrom is not resolved locally (your own environment is used)", variable["name"])
            continue
        env[variable["name"]] = expand(str(variable.get("value", "")), env)
    if container.get("envFrom"):
        logger.debug("envFrom is not resolved locally: local processes use your own environment and profile")
    return env


def _rewrite_paths(text: str, paths: Mapping[str, pathlib.Path]) -> str:
    for prefix in sorted(paths, key=len, reverse=True):
        pattern = re.compile(r"(?<![^=\s:])" + re.escape(prefix.rstrip("/")) + r"(?=/|$|[\s,;:])")

        # A function replacement, so backslashes in a Windows-style target are not read as escapes.
        def _replace(_match: re.Match[str], target: str = str(paths[prefix])) -> str:
            return target

        text = pattern.sub(_replace, text)
    return text


def _rewrite_ports(value: str, port_map: Mapping[int, int], *, host: str = LOOPBACK) -> str:
    """Rewrite declared containerPorts in a whole value, a `--flag=PORT` or a loopback `host:PORT`."""
    value = _LOOPBACK_PORT.sub(lambda m: f"{host}:{port_map.get(int(m.group(1)), int(m.group(1)))}", value)
    flag = _FLAG_NUMBER.match(value)
    if flag and int(flag.group(2)) in port_map:
        return f"{flag.group(1)}{port_map[int(flag.group(2))]}"
    if value.isdigit() and int(value) in port_map:
        return str(port_map[int(value)])
    return value


def _rewrite_services(text: str, registry: Mapping[str, services.LocalService]) -> str:
    for name, service in registry.items():
        namespace = re.escape(service["namespace"])
        host = re.escape(name) + rf"(?:\.{namespace}(?:\.svc(?:\.cluster\.local)?)?)?"
        pattern = re.compile(r"(?:(?<![^=@\s])|(?<=//))" + host + r"(?::(\d+))?(?![\w.:-])")
        service_ports = {int(port): local for port, local in service["ports"].items()}

        def _one(match: re.Match[str], service_ports: dict[int, int] = service_ports) -> str:
            port = int(match.group(1)) if match.group(1) else DEFAULT_SERVICE_PORT
            if port not in service_ports and not match.group(1) and len(service_ports) == 1:
                port = next(iter(service_ports))
            return f"127.0.0.1:{service_ports[port]}" if port in service_ports else match.group(0)

        text = pattern.sub(_one, text)
    return text


def translate(
    container: Mapping[str, Any],
    *,
    name: str,
    settings: settings_module.Settings,
    assigned_ports: Mapping[int, int] | None = None,
    mounts: Mapping[str, pathlib.Path] | None = None,
    extra_env: Mapping[str, str] | None = None,
    port_picker: ports_module.PortPicker = ports_module.free_port,
    environ: Mapping[str, str] | None = None,
    bind_address: str = LOOPBACK,
    object_store: bool = True,
) -> LocalProcess:
    """The local process for `container`, named `name` (rules in the module docstring).

    `assigned_ports` fixes the loopback port of some containerPorts (TFJob replicas whose
    addresses are already in TF_CONFIG); the others are picked. `bind_address` replaces
    `0.0.0.0` (the node agent gives each pod its own loopback address); `object_store=False` keeps
    `s3://` URIs for a real (or moto) S3. Raises ConfigError for a command with no local equivalent.
    """
    image = str(container.get("image", ""))
    program, program_name = _program(image, list(container.get("command") or []))
    env = _container_env(container)
    argv = [expand(str(word), env) for word in [*program, *(container.get("args") or [])]]
    declared = {int(port["containerPort"]): port.get("name") for port in container.get("ports") or []}
    port_map = {port: (assigned_ports or {}).get(port) or port_picker() for port in declared}
    port_map.update(assigned_ports or {})
    paths = {**_image_paths(image, settings=settings), **(mounts or {})}
    registry = services.read(settings)

    def _rewrite(text: str) -> str:
        if text == ALL_INTERFACES:
            return bind_address
        if object_store:
            text = _S3.sub(lambda m: str(local_object_path(m.group(0), settings=settings)), text)
        return _rewrite_services(_rewrite_ports(_rewrite_paths(text, paths), port_map, host=bind_address), registry)

    argv = [_rewrite(word) for word in argv if word not in DROPPED_ARGS.get(program_name, set())]
    env = {key: _rewrite(value) for key, value in env.items()}
    full_env = {**dict(os.environ if environ is None else environ), **env, **(extra_env or {})}
    cwd = REPO_ROOT if _image_paths(image, settings=settings) else None
    if cwd is not None:
        # Our images put /app on the import path; the repository root stands in for /app.
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), full_env.get("PYTHONPATH")]))
    spec = supervisor.ProcessSpec(name=name, argv=argv, env=full_env, cwd=cwd)
    names = {port_name: port for port, port_name in declared.items() if port_name}
    return LocalProcess(spec=spec, ports=port_map, port_names=names)
