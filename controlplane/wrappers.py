"""Regenerate the wrapper modules under `controlplane/go/` from the pinned versions.

k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces each of its ~33 staging modules
(k8s.io/api, k8s.io/apiserver, ...) with `./staging/...`. The wrapper requires the release and
replaces each staging module with its published twin (k8s.io/api v0.37.2 for v1.37.2); the list is
read from that release's go.mod as the module proxy serves it, never written by hand. The other
wrappers only pin their tools. Run `python -m controlplane.wrappers` after changing `versions.py`,
then commit go.mod and go.sum.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request

from controlplane import build, versions

PROXY = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0]
_STAGING = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", re.MULTILINE)


def staging_modules(kubernetes_version: str) -> list[str]:
    """The modules that k8s.io/kubernetes at `kubernetes_version` replaces with its staging folder."""
    url = f"{PROXY}/k8s.io/kubernetes/@v/{kubernetes_version}.mod"
    with urllib.request.urlopen(url, timeout=60) as answer:
        modules = _STAGING.findall(answer.read().decode())
    if not modules:
        raise RuntimeError(f"no staging replace lines in {url}")
    return modules


def kubernetes_go_mod(kubernetes_version: str) -> str:
    """The wrapper's go.mod before `go get` adds the requirements."""
    published = "v0." + kubernetes_version.removeprefix("v1.")
    replaces = "".join(f"\t{module} => {module} {published}\n" for module in staging_modules(kubernetes_version))
    return (
        "module kubeflow-mnist/controlplane/kubernetes\n\ngo 1.26.0\n\n"
        f"require k8s.io/kubernetes {kubernetes_version}\n\nreplace (\n{replaces})\n"
    )


def _go(wrapper: str, *args: str) -> None:
    environment = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=mod"}
    subprocess.run([build.go_command(), *args], cwd=build.WRAPPERS_DIR / wrapper, env=environment, check=True)


def regenerate() -> None:
    """Write every wrapper's go.mod and go.sum afresh from `versions.py`."""
    tools: dict[str, list[str]] = {}
    for component in build.COMPONENTS.values():
        tools.setdefault(component.wrapper, []).append(f"{component.package}@{component.version}")
    for wrapper, packages in tools.items():
        folder = build.WRAPPERS_DIR / wrapper
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "go.sum").unlink(missing_ok=True)
        if wrapper == "kubernetes":
            (folder / "go.mod").write_text(kubernetes_go_mod(versions.KUBERNETES))
        else:
            (folder / "go.mod").write_text(f"module kubeflow-mnist/controlplane/{wrapper}\n\ngo 1.26.0\n")
        _go(wrapper, "get", "-tool", *packages)


if __name__ == "__main__":
    regenerate()
