"""The whole series on the local backend: nothing leaks, servers bind loopback, it runs twice, clean-up ends it.

One test, because each claim needs the same expensive thing (01..06 run for real with the fast
parameters): run it with fake AWS credentials in the environment, check what the servers listen
on while they run, scan every file the run wrote for the credentials, run it all again in the
same state folder, then clean up and prove no process of the series is left.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from helpers import cleanup, pipeline, settings as settings_module
from helpers.local import pids
from tests.safety import listening

FAST_PARAMETERS = pathlib.Path(__file__).resolve().parents[1] / "fast-params.yaml"
# Distinctive fake credentials in the real formats (AKIA + 16, a 40-character secret), so both
# the literal search and the pattern search below would find a copy that leaked.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIASAFETYFAKEKEY007",
    "AWS_SECRET_ACCESS_KEY": "sAfEtY/FaKe+SeCrEt0123456789abcdefGHIJKL",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzSAFETYFAKESESSIONTOKENmustNeverBeWrittenAnywhere0123456789",
}
SECRET_PATTERNS = (
    re.compile(rb"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(rb"aws_secret_access_key\W{0,8}[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])", re.IGNORECASE),
)
# The servers the series leaves running: TensorBoard (04), the model server (05) and the UI (06).
SERVERS = ("tensorboard", "serving", "ui")


def leaks(folders: list[pathlib.Path]) -> list[str]:
    """Every file under `folders` holding a fake credential or an AWS key pattern, with what matched."""
    found = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            content = path.read_bytes()
            hits = [name for name, value in FAKE_CREDENTIALS.items() if value.encode() in content]
            matches = [match.group() for pattern in SECRET_PATTERNS for match in pattern.finditer(content)]
            hits += [match[:24].decode(errors="replace") for match in matches]
            if hits:
                found.append(f"{path}: {hits}")
    return found


def test_the_scan_finds_a_planted_credential(tmp_path: pathlib.Path) -> None:
    (tmp_path / "run" / "deep").mkdir(parents=True)
    (tmp_path / "run" / "deep" / "out.log").write_text("nothing here")
    assert leaks([tmp_path / "run"]) == []
    (tmp_path / "run" / "deep" / "cell.ipynb").write_text(json.dumps({"aws_secret_access_key": "x" * 40}))
    (tmp_path / "run" / "key.json").write_text('{"id": "ASIAABCDEFGHIJKLMNOP"}')
    (tmp_path / "run" / "token.log").write_text(FAKE_CREDENTIALS["AWS_SESSION_TOKEN"])
    found = "\n".join(leaks([tmp_path / "run"]))
    assert "cell.ipynb" in found and "ASIAABCDEFGHIJKLMNOP" in found and "AWS_SESSION_TOKEN" in found


def _deployment_records(state_dir: pathlib.Path) -> dict[str, dict]:
    """The local Deployment records (name -> record) the series wrote: pid, start time, Service URLs."""
    folder = state_dir / "local" / "deployments"
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def _assert_servers_listen_on_loopback_only(state_dir: pathlib.Path, app_name: str) -> dict[str, dict]:
    records = _deployment_records(state_dir)
    assert {f"{app_name}-{server}" for server in SERVERS} <= set(records), sorted(records)
    every_socket = listening.listening_sockets()
    for name, record in records.items():
        pid = record["process"]["pid"]
        assert pids.is_alive(record["process"]), f"{name} (pid {pid}) is not running"
        owned = listening.listening_addresses(pid)
        assert owned, f"{name} listens on nothing"
        assert all(listening.is_loopback(address) for address, _ in owned), f"{name} listens on {owned}"
        for url in record["services"].values():
            port = int(url.rsplit(":", 1)[1])
            on_port = [address for address, bound_port, _ in every_socket if bound_port == port]
            assert on_port and all(listening.is_loopback(address) for address in on_port), f"{url}: {on_port}"
    return records


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain `text` (the state folder is in every server's)."""
    found = []
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        if text in argv:
            found.append(f"{cmdline.parent.name}: {argv[:200]}")
    return found


@pytest.mark.slow
def test_series_leaks_nothing_binds_loopback_and_runs_twice(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)  # kernels, and the servers they start, inherit these
    state_dir = tmp_path / "state"
    runs = tmp_path / "runs"
    parameters = {**pipeline.load_parameters(files=[FAST_PARAMETERS], assignments=[]), "state_dir": str(state_dir)}
    settings = settings_module.load(backend="local", state_dir=str(state_dir))
    started: list[pids.ProcessRecord] = []
    try:
        for attempt in ("first", "second"):
            outcomes = pipeline.run(parameters=parameters, output_dir=runs, progress_bar=False)
            failures = [f"{outcome.notebook}: {outcome.status} {outcome.error}" for outcome in outcomes]
            assert [outcome.status for outcome in outcomes] == ["ok"] * len(pipeline.NOTEBOOKS), (attempt, failures)
            records = _assert_servers_listen_on_loopback_only(state_dir, settings.app_name)
            started += [record["process"] for record in records.values()]
            serving_pid = records[f"{settings.app_name}-serving"]["process"]["pid"]
            environment = pathlib.Path(f"/proc/{serving_pid}/environ").read_bytes()
            assert FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"].encode() in environment, "the secret was there to leak"
            assert leaks([runs, state_dir]) == [], attempt
        assert len(list(runs.glob("*/06_ui.ipynb"))) == 2, "two run folders, one per run"
    finally:
        cleanup.clean_up(settings=settings)
    survivors = [process["argv"] for process in started if pids.is_alive(process)]
    assert started and survivors == [], "clean-up stopped every server of both runs"
    assert _processes_mentioning(str(state_dir)) == []
