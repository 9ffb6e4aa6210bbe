"""`python -m controlplane build|up|down|status`: the control plane from the command line (make cluster-up)."""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys

from controlplane import build, cluster, errors, profile, trainer


def _default_state_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("MNIST_STATE_DIR") or pathlib.Path.home() / ".kubeflow-mnist")


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (2 with a message when the control plane cannot be had)."""
    parser = argparse.ArgumentParser(prog="python -m controlplane", description=__doc__)
    parser.add_argument("command", choices=("build", "up", "down", "status"))
    parser.add_argument("--state-dir", type=pathlib.Path, default=_default_state_dir(), help="default: %(default)s")
    parser.add_argument("--release", choices=profile.RELEASES, default=profile.DEFAULT_RELEASE, help="Kubeflow RBAC")
    parser.add_argument("--namespace", default=profile.NAMESPACE, help="the profile namespace to make")
    parser.add_argument("--wipe", action="store_true", help="down: also remove etcd's data and the certificates")
    parser.add_argument(
        "--trainer", action="store_true", help="up: also start Kubeflow Trainer v2 and JobSet (with the runtime)"
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if arguments.command == "build":
            for name, path in build.build_all().items():
                print(f"{name:28} {path}")
        elif arguments.command == "up":
            running = cluster.up(state_dir=arguments.state_dir, before_controllers=profile.ensure_crds)
            made = profile.ensure(running, namespace=arguments.namespace, release=arguments.release)
            if arguments.trainer:
                trainer.up(running)
            print(f"API server       {running.server_url}")
            print(f"admin            export KUBECONFIG={running.admin_kubeconfig}")
            print(f"default-editor   export KUBECONFIG={made.editor_kubeconfig}   (namespace {made.namespace})")
        elif arguments.command == "down":
            # The Kubeflow controllers first: they would go on calling a stopped API server.
            attached = cluster.running(state_dir=arguments.state_dir)
            stopped = trainer.down(attached) if attached else []
            stopped += cluster.down(state_dir=arguments.state_dir, wipe=arguments.wipe)
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        else:
            states = cluster.status(state_dir=arguments.state_dir)
            attached = cluster.running(state_dir=arguments.state_dir)
            states.update(trainer.status(attached) if attached else {})
            for name, running_now in states.items():
                print(f"{name:28} {'running' if running_now else 'stopped'}")
    except errors.ControlPlaneError as e:
        print(f"control plane: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
