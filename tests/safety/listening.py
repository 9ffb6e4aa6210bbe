"""Which TCP addresses processes listen on, read from Linux's /proc (no extra dependency).

A local server that binds 0.0.0.0 or :: is reachable from the whole network; the tests use this
to prove that what the series starts listens on loopback only.
"""

from __future__ import annotations

import ipaddress
import os
import pathlib

PROC = pathlib.Path("/proc")
# The `st` column of /proc/net/tcp for a listening socket (TCP_LISTEN).
LISTEN_STATE = "0A"


def _address(hex_address: str) -> str:
    """An address as /proc/net/tcp{,6} writes it (32-bit words in host byte order) in text form."""
    raw = bytes.fromhex(hex_address)
    # The words are little-endian on the machines this runs on (x86-64, arm64).
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(packed))


def listening_sockets() -> list[tuple[str, int, int]]:
    """Every listening TCP socket on this machine as (address, port, socket inode)."""
    sockets = []
    for table in ("tcp", "tcp6"):
        path = PROC / "net" / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != LISTEN_STATE:
                continue
            hex_address, hex_port = fields[1].split(":")
            sockets.append((_address(hex_address), int(hex_port, 16), int(fields[9])))
    return sockets


def _children(pid: int) -> list[int]:
    children = []
    for task in (PROC / str(pid) / "task").glob("*/children"):
        try:
            children += [int(child) for child in task.read_text().split()]
        except OSError:
            continue  # the thread ended while we looked
    return children


def process_tree(pid: int) -> set[int]:
    """`pid` and all its descendants that are still alive."""
    found, pending = set(), [pid]
    while pending:
        current = pending.pop()
        if current not in found and (PROC / str(current)).exists():
            found.add(current)
            pending += _children(current)
    return found


def socket_inodes(pids: set[int]) -> set[int]:
    """The inodes of the sockets these processes hold open."""
    inodes = set()
    for pid in pids:
        fd_dir = PROC / str(pid) / "fd"
        try:
            links = [os.readlink(fd) for fd in fd_dir.iterdir()]
        except OSError:
            continue  # ended meanwhile
        inodes |= {int(link[len("socket:[") : -1]) for link in links if link.startswith("socket:[")}
    return inodes


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket that `pid` or a descendant listens on."""
    inodes = socket_inodes(process_tree(pid))
    return sorted((address, port) for address, port, inode in listening_sockets() if inode in inodes)


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for 0.0.0.0, :: and real interfaces."""
    parsed = ipaddress.ip_address(address)
    mapped = parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else None
    return (mapped or parsed).is_loopback
