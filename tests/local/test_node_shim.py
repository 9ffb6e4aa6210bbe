"""The pod shim in real processes: binds on each pod's own address, and a pod's localhost its own."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import threading

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


# Connects to 127.0.0.1:<port> for each port given and prints what answered.
CLIENT = """
import socket, sys
for port in sys.argv[1:]:
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as c:
        print(c.recv(64).decode(), flush=True)
"""
# Listens on 127.0.0.1 (moved to the pod's address by the bind override) and answers "pod".
POD_SERVER = """
import socket, sys
s = socket.create_server(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"pod")
    c.close()
"""


def _answer_once(server: socket.socket, text: bytes) -> None:
    connection, _ = server.accept()
    with connection:
        connection.sendall(text)


def test_a_pods_localhost_reaches_its_own_servers_and_the_nodes(tmp_path: pathlib.Path) -> None:
    """TensorBoard reaches its data server on localhost inside the pod; S3 on moto stays on the node's."""
    library = shim.build(tmp_path / "shim")
    if library is None:
        pytest.skip("no C compiler on this machine")
    pod_env = {
        **os.environ,
        **shim.environment(library, hosts_file=tmp_path / "hosts", search="", pod_ip="127.0.0.30"),
    }
    node_server = socket.create_server(("127.0.0.1", 0))
    answering = threading.Thread(target=_answer_once, args=(node_server, b"node"))
    answering.start()
    server = subprocess.Popen([sys.executable, "-c", POD_SERVER], env=pod_env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        pod_port = server.stdout.readline().strip()
        node_port = str(node_server.getsockname()[1])
        client = subprocess.run(
            [sys.executable, "-c", CLIENT, pod_port, node_port], env=pod_env, capture_output=True, text=True, timeout=30
        )
        assert client.stdout.split() == ["pod", "node"], client.stderr
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
        answering.join(5)
        node_server.close()
