"""The bind shim: two real processes bind the same port on their own pod addresses."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from helpers.local.node import shim

# Binds every interface (as TensorFlow's gRPC server does), then prints the address it got.
SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("::", int(sys.argv[1])))
s.listen()
print(s.getsockname()[0], flush=True)
sys.stdin.read()
"""


def test_two_pods_listen_on_one_port_each_on_its_own_address(tmp_path: pathlib.Path) -> None:
    library = shim.build(tmp_path / "shim")
    if library is None:
        pytest.skip("no C compiler on this machine")
    port = "42222"
    children = []
    try:
        for address in ("127.0.0.20", "127.0.0.21"):
            env = {**os.environ, **shim.environment(library, hosts_file=tmp_path / "hosts", search="", pod_ip=address)}
            child = subprocess.Popen(
                [sys.executable, "-c", SERVER, port], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            children.append(child)
            assert child.stdout is not None
            assert child.stdout.readline().strip() == f"::ffff:{address}"
    finally:
        for child in children:
            child.kill()
            child.wait()
            for stream in (child.stdin, child.stdout):
                if stream is not None:
                    stream.close()
