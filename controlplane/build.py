"""Build the control plane's binaries from the Go module proxy, once, and keep them.

Each binary comes from a wrapper module under `controlplane/go/` (go.mod and go.sum committed, so
the whole dependency graph is pinned and checked against the checksum database). A binary is named
after its version and a hash of its wrapper's go.mod and go.sum, so a changed pin rebuilds it and an
unchanged one is never rebuilt. Binaries of one wrapper build together and share the compile.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

from controlplane import errors, versions

logger = logging.getLogger(__name__)

WRAPPERS_DIR = pathlib.Path(__file__).resolve().parent / "go"
# Outside the clone and outside any one state folder: every clone and test run on this machine
# reuses the same binaries (a cold build takes many minutes); override with MNIST_CONTROLPLANE_BIN.
DEFAULT_BIN_DIR = pathlib.Path.home() / ".kubeflow-mnist" / "controlplane" / "bin"
# What each build took: the README quotes these numbers.
BUILD_RECORD = "builds.json"


def _kubernetes_ldflags() -> tuple[str, ...]:
    """Stamp the version into the binaries as Kubernetes' own release build does (`/version` reports it)."""
    major, minor = versions.KUBERNETES.lstrip("v").split(".")[:2]
    stamps = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamps += [
            f"-X {package}.gitVersion={versions.KUBERNETES}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return tuple(stamps)


@dataclasses.dataclass(frozen=True)
class Component:
    """One binary: its wrapper module (folder under `go/`), Go package and pinned version."""

    name: str
    wrapper: str
    package: str
    version: str
    ldflags: tuple[str, ...] = ()


COMPONENTS = {
    component.name: component
    for component in (
        Component("etcd", "etcd", "go.etcd.io/etcd/server/v3", versions.ETCD),
        Component(
            "kube-apiserver",
            "kubernetes",
            "k8s.io/kubernetes/cmd/kube-apiserver",
            versions.KUBERNETES,
            _kubernetes_ldflags(),
        ),
        Component(
            "kube-controller-manager",
            "kubernetes",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
            versions.KUBERNETES,
            _kubernetes_ldflags(),
        ),
        Component(
            "training-operator",
            "operators",
            "github.com/kubeflow/training-operator/cmd/training-operator.v1",
            versions.TRAINING_OPERATOR,
        ),
        Component("jobset", "operators", "sigs.k8s.io/jobset", versions.JOBSET),
        Component(
            "trainer-controller-manager",
            "operators",
            "github.com/kubeflow/trainer/v2/cmd/trainer-controller-manager",
            versions.TRAINER,
        ),
    )
}


def bin_dir() -> pathlib.Path:
    """Where built binaries are kept."""
    return pathlib.Path(os.environ.get("MNIST_CONTROLPLANE_BIN") or DEFAULT_BIN_DIR)


def _pin(wrapper: str) -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((WRAPPERS_DIR / wrapper / name).read_bytes())
    return digest.hexdigest()[:10]


def path_of(name: str) -> pathlib.Path:
    """Where the binary `name` is (or will be) kept; raises KeyError for an unknown name."""
    component = COMPONENTS[name]
    return bin_dir() / f"{component.name}-{component.version}-{_pin(component.wrapper)}"


def binary(name: str) -> pathlib.Path:
    """The path of binary `name`, built first if it is not there yet (with the others of its wrapper).

    Raises ControlPlaneError when Go is missing or the build fails.
    """
    if name not in COMPONENTS:
        raise errors.ControlPlaneError(f"unknown component {name!r}; known: {sorted(COMPONENTS)}")
    target = path_of(name)
    if not target.is_file():
        wrapper = COMPONENTS[name].wrapper
        _build([c for c in COMPONENTS.values() if c.wrapper == wrapper and not path_of(c.name).is_file()])
    return target


def go_command() -> str:
    """The `go` executable; raises ControlPlaneError naming how to get one."""
    found = shutil.which("go")
    if found is None:
        raise errors.ControlPlaneError(
            "the control plane is built from Go modules, and no `go` command is on PATH: install Go 1.26 or newer"
            " (https://go.dev/doc/install; `go version` must answer), then run `make cluster-up` again"
        )
    return found


def _build(components: list[Component]) -> None:
    """Build the components of one wrapper module in one `go build`, then move them into place."""
    if not components:
        return
    wrapper = components[0].wrapper
    names = ", ".join(c.name for c in components)
    logger.info("building %s from the Go module proxy (cold: many minutes; then cached in %s)", names, bin_dir())
    environment = {
        **os.environ,
        # The wrapper's go.mod decides; a go.work above the clone must not.
        "GOWORK": "off",
        # Static, pure-Go binaries: no C toolchain needed, as Kubernetes' own release builds.
        "CGO_ENABLED": "0",
        # go.sum is committed: a build never edits it.
        "GOFLAGS": "-mod=readonly",
    }
    bin_dir().mkdir(parents=True, exist_ok=True)
    ldflags = " ".join(("-s", "-w", *components[0].ldflags))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=bin_dir()) as scratch, tempfile.TemporaryFile("w+") as errors_file:
        command = [go_command(), "build", "-trimpath", "-ldflags", ldflags, "-o", scratch + "/"]
        process = subprocess.Popen(
            [*command, *(c.package for c in components)],
            cwd=WRAPPERS_DIR / wrapper,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=errors_file,
        )
        # wait4 reports the build's own resource use, its compilers and linker included.
        _, wait_status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(wait_status)
        if process.returncode != 0:
            errors_file.seek(0)
            raise errors.ControlPlaneError(f"go build of {names} failed:\n{errors_file.read()[-4000:]}")
        for component in components:
            built = pathlib.Path(scratch) / component.package.rstrip("/").rsplit("/", 1)[-1]
            if component.package.endswith("/v3"):  # a module root at a major-version suffix builds as its parent
                built = pathlib.Path(scratch) / component.package.rsplit("/", 2)[-2]
            os.replace(built, path_of(component.name))
    elapsed_s = time.monotonic() - started
    # The largest process of the build (a compiler or the linker), in MiB; Linux reports KiB.
    peak_mib = usage.ru_maxrss / 1024
    logger.info("built %s in %.0f s (largest build process %.0f MiB)", names, elapsed_s, peak_mib)
    _record(wrapper, names=names, elapsed_s=elapsed_s, peak_mib=peak_mib)


def _record(wrapper: str, *, names: str, elapsed_s: float, peak_mib: float) -> None:
    path = bin_dir() / BUILD_RECORD
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        records = {}
    records[wrapper] = {
        "binaries": names,
        "seconds": round(elapsed_s),
        "largest_process_mib": round(peak_mib),
        "cores": os.cpu_count(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path.write_text(json.dumps(records, indent=2) + "\n")


def build_all() -> dict[str, pathlib.Path]:
    """Build every component that is missing; returns name -> path."""
    return {name: binary(name) for name in COMPONENTS}
