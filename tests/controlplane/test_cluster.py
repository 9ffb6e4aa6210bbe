"""cluster: the real control plane starts once, answers as the pinned release, listens on loopback only, stops clean."""

from __future__ import annotations

import json
import pathlib

from controlplane import cluster, versions
from helpers.local import pids
from tests.safety import listening


def _records(state_dir: pathlib.Path) -> dict[str, pids.ProcessRecord]:
    record = json.loads((cluster.folder_of(state_dir) / cluster.RECORD).read_text())
    processes: dict[str, pids.ProcessRecord] = record["processes"]
    return processes


def test_a_second_up_finds_it_running_and_changes_nothing(control_plane: cluster.Cluster) -> None:
    state_dir = control_plane.folder.parent
    before = _records(state_dir)
    again = cluster.up(state_dir=state_dir)
    assert again == control_plane
    assert _records(state_dir) == before


def test_the_api_server_is_the_pinned_release(control_plane: cluster.Cluster) -> None:
    assert control_plane.request("GET", "/version")["gitVersion"] == versions.KUBERNETES


def test_every_process_listens_on_loopback_only(control_plane: cluster.Cluster) -> None:
    inodes = {}
    for name, process in _records(control_plane.folder.parent).items():
        for pid in listening.process_tree(process["pid"]):
            for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
                target = str(fd.readlink()) if fd.is_symlink() else ""
                if target.startswith("socket:["):
                    inodes[int(target[8:-1])] = name
    sockets = listening.listening_sockets()
    bound = [(inodes[inode], address, port) for address, port, inode in sockets if inode in inodes]
    assert {name for name, _, _ in bound} == set(cluster.PROCESSES) - {"kube-controller-manager"}
    assert all(address in ("127.0.0.1", "::1") for _, address, _ in bound), bound


def test_down_leaves_no_process_and_up_starts_warm(tmp_path: pathlib.Path) -> None:
    state_dir = tmp_path / "state"
    started = cluster.up(state_dir=state_dir)
    processes = _records(state_dir)
    assert started.request("GET", "/api/v1/namespaces/default")["metadata"]["name"] == "default"
    assert sorted(cluster.down(state_dir=state_dir)) == sorted(cluster.PROCESSES)
    assert not any(pids.is_alive(process) for process in processes.values())
    assert cluster.down(state_dir=state_dir) == []
    assert not any(cluster.status(state_dir=state_dir).values())
