"""`python -m helpers.local.node --kubeconfig FILE --state-dir DIR`: run the node agent until SIGTERM/Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import pathlib
import signal
import sys
import threading
from typing import Any

from kubernetes import config as k8s_config

from helpers.local.node import agent


def main(argv: list[str] | None = None) -> int:
    """Run the agent; returns 0 after a clean stop."""
    parser = argparse.ArgumentParser(prog="python -m helpers.local.node", description=__doc__)
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig with rights to nodes, pods, pods/status")
    parser.add_argument("--state-dir", required=True, type=pathlib.Path, help="logs, volumes and certificates")
    parser.add_argument("--name", default=agent.DEFAULT_NODE_NAME, help="the Node's name")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="variable for every container")
    parser.add_argument("--kubelet-port", type=int, default=0, help="log endpoint port on 127.0.0.1 (0: free)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    node_env = dict(item.split("=", 1) for item in args.env)
    api_client = k8s_config.new_client_from_config(config_file=args.kubeconfig)
    config = agent.NodeConfig(
        state_dir=args.state_dir.resolve(), name=args.name, node_env=node_env, kubelet_port=args.kubelet_port
    )
    node = agent.NodeAgent(api_client=api_client, config=config)
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    node.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
