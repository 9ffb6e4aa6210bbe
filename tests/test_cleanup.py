"""cleanup: real local servers and replicas stopped, twice; the kubeflow path's skips that only a stand-in can act out.

The kubeflow path itself (deletion by label, AWS only when asked, refusals, each release) runs on the real API
server: tests/controlplane/test_cleanup_kubeflow.py and test_releases.py.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3.session
import pytest

from helpers import backends, cleanup, errors, settings as settings_module, state
from helpers.backends import local as local_backend
from helpers.local import deployments, pids, services, tfjob
from tests.aws import conftest as aws_fixtures, test_ecr
from tests.backends import conftest as backend_fixtures
from tests.cluster import conftest as cluster_fixtures, fake_api as fake_api_module
from tests.cluster.objects import NAMESPACE
from tests.local import synthetic

# The AWS and Kubernetes fixtures of the backend tests: moto, the API server stand-in and a kubeconfig for it.
aws_environment = aws_fixtures.aws_environment
mocked_aws = aws_fixtures.mocked_aws
fake_api = cluster_fixtures.fake_api
kube_config = backend_fixtures.kube_config
kubeflow_settings = backend_fixtures.kubeflow_settings

OUTPUT_SECTIONS = ("data", "image", "model", "summary")
PART_OF = {"app.kubernetes.io/part-of": "kubeflow-mnist", "app.kubernetes.io/name": "mnist"}


# Local backend.


@pytest.fixture
def local_settings(settings: settings_module.Settings) -> Iterator[settings_module.Settings]:
    """Local settings after 01 (bucket and registry folders made), with outputs of later notebooks recorded."""
    backend = backends.get(settings=settings.model_copy(update={"stop_grace_s": 1.0, "wait_timeout_s": 30.0}))
    backend.ensure_storage()
    for section in OUTPUT_SECTIONS:
        state.update(backend.settings.state_dir, section, {"recorded": True})
    yield backend.settings
    deployments.stop_all(backend.settings)


def web_server(name: str = "web") -> list[dict[str, Any]]:
    """A Deployment + Service whose container serves files on loopback (a `python -m http.server`)."""
    container = {
        "name": "web",
        "image": "python:3.11-slim",
        "command": ["python"],
        "args": ["-m", "http.server", "--bind", "127.0.0.1", "8000"],
        "ports": [{"name": "http", "containerPort": 8000}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    return [deployment, service]


def statuses(done: Any, item: str) -> list[str]:
    """The statuses of every row for `item`."""
    return [row.status for row in done.rows if row.item == item]


def test_local_stops_servers_forgets_outputs_and_keeps_settings_and_storage(
    local_settings: settings_module.Settings,
) -> None:
    deployments.apply(web_server(), settings=local_settings)
    deployments.wait_ready("web", settings=local_settings, timeout_s=30)
    record = deployments.read_record("web", settings=local_settings)
    assert record is not None and services.read(local_settings)

    done = cleanup.clean_up(settings=local_settings)

    assert done.status_of("Deployment") == "stopped"
    assert synthetic.pid_gone(record["process"]["pid"])
    assert deployments.list_running(local_settings) == []
    assert services.read(local_settings) == {}
    assert not services.local_dir(local_settings).exists()
    assert statuses(done, "state section") == ["removed"] * len(OUTPUT_SECTIONS) + ["kept"]
    assert set(state.read(local_settings.state_dir)) == {"settings"}
    assert settings_module.load(state_dir=str(local_settings.state_dir)).bucket == local_settings.bucket
    assert done.status_of("bucket") == done.status_of("image repository") == "kept"
    assert (local_settings.state_dir / "s3" / local_settings.bucket).is_dir()
    assert (local_backend.registry_root(local_settings) / local_settings.repository).is_dir()

    again = cleanup.clean_up(settings=local_settings)
    assert again.status_of("local processes") == "already gone"
    assert again.status_of("local run folder") == "already gone"
    assert again.status_of("state sections") == "already gone"
    assert "stopped" not in {row.status for row in again.rows}


def test_local_bucket_and_repository_folders_go_only_when_asked(local_settings: settings_module.Settings) -> None:
    bucket_dir = local_settings.state_dir / "s3" / local_settings.bucket
    (bucket_dir / "models" / "mnist" / "1").mkdir(parents=True)
    registry = local_backend.registry_root(local_settings)
    repository_dir = registry / local_settings.repository

    first = cleanup.clean_up(settings=local_settings, bucket=True)
    assert first.status_of("bucket") == "removed" and not bucket_dir.exists()
    assert first.status_of("image repository") == "kept" and repository_dir.is_dir()

    second = cleanup.clean_up(settings=local_settings, bucket=True, repository=True)
    assert second.status_of("bucket") == "already gone"
    assert second.status_of("image repository") == "removed"
    # The repository name has a "/" in it: the emptied folder above it goes too, the registry stays.
    assert not repository_dir.parent.exists() and registry.is_dir()

    assert cleanup.clean_up(settings=local_settings, repository=True).status_of("image repository") == "already gone"


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Real sleeping children, each in its own session as the supervisor starts replicas; reaped afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        synthetic.kill_if_alive(child.pid)
        child.wait()


def sleeper(started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        [sys.executable, "-c", synthetic.SLEEP_FOREVER], start_new_session=True, stdin=subprocess.DEVNULL
    )
    started.append(child)
    # The start time a record keeps is only readable once the child exists in /proc.
    assert pids.start_marker(child.pid) is not None
    return child


def test_local_stops_leftover_replicas_but_never_an_unrelated_process(
    local_settings: settings_module.Settings, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    replica, unrelated = sleeper(sleepers), sleeper(sleepers)
    # What a run leaves when its kernel is killed: pids.json in the job folder. The second record's pid
    # now belongs to another process (its start time differs), as after pid reuse.
    records = {
        "worker-0": pids.record(replica.pid, []),
        "ps-0": {"pid": unrelated.pid, "started": "1", "argv": []},
    }
    job_dir = tfjob.job_dir("mnist-train", settings=local_settings)
    job_dir.mkdir(parents=True)
    (job_dir / tfjob.PIDS_FILE).write_text(json.dumps(records))

    done = cleanup.clean_up(settings=local_settings)

    stopped = [row.name for row in done.rows if row.item == "TFJob replica"]
    assert stopped == [f"mnist-train/worker-0 (pid {replica.pid})"]
    assert replica.wait(timeout=10) != 0
    assert unrelated.poll() is None
    assert not job_dir.exists()
    assert "TFJob replica" not in {row.item for row in cleanup.clean_up(settings=local_settings).rows}


# Kubeflow backend: the API server stand-in and moto, only for what a real API server cannot be made to do here.
# Clean-up by label, keeping what is not the series', the bucket and repository only when asked, a refusal, and
# what each Kubeflow release's profile may not delete run on the real API server as default-editor
# (tests/controlplane/test_cleanup_kubeflow.py, test_releases.py). Kept here: a kind the profile may not list
# (every release lets default-editor list every kind the series uses) and one the cluster does not serve (the
# control plane serves every CRD to every test), both only a stand-in can act out.


def add(
    server: fake_api_module.FakeApiServer, group_version: str, plural: str, kind: str, name: str, **labels: str
) -> dict[str, Any]:
    """Store an object as if a notebook had applied it."""
    metadata = {"name": name, "namespace": NAMESPACE, "labels": labels}
    version = group_version.removeprefix("api/").removeprefix("apis/")
    return server.add(group_version, plural, {"apiVersion": version, "kind": kind, "metadata": metadata})


# Objects the series applies, one per kind it applies: (group/version path, plural, kind, name).
SERIES = [
    ("api/v1", "secrets", "Secret", "aws-secret"),
    ("api/v1", "configmaps", "ConfigMap", "mnist-serving-config"),
    ("apis/batch/v1", "jobs", "Job", "mnist-build-abc123"),
    ("apis/kubeflow.org/v1", "tfjobs", "TFJob", "mnist-train"),
    ("api/v1", "persistentvolumeclaims", "PersistentVolumeClaim", "mnist-tensorboard-logs"),
    ("apis/tensorboard.kubeflow.org/v1alpha1", "tensorboards", "Tensorboard", "mnist-tensorboard"),
    ("apis/apps/v1", "deployments", "Deployment", "mnist-serving"),
    ("api/v1", "services", "Service", "mnist-serving"),
    ("apis/networking.istio.io/v1", "virtualservices", "VirtualService", "mnist-ui"),
]
BUCKET = "mnist-cleanup-test"


@pytest.fixture
def cluster(
    mocked_aws: None,
    kube_config: pathlib.Path,
    fake_api: fake_api_module.FakeApiServer,
    kubeflow_settings: settings_module.Settings,
) -> settings_module.Settings:
    """A namespace holding the series' objects and others, a versioned bucket and a repository with an image."""
    for group_version, plural, kind, name in SERIES:
        add(fake_api, group_version, plural, kind, name, **PART_OF)
    # The profile's ServiceAccount carries our labels once IRSA was applied to it; it must stay.
    add(fake_api, "api/v1", "serviceaccounts", "ServiceAccount", "default-editor", **PART_OF)
    add(fake_api, "api/v1", "configmaps", "ConfigMap", "someone-elses")
    add(fake_api, "apis/apps/v1", "deployments", "Deployment", "other", **{"app.kubernetes.io/part-of": "other"})
    session = boto3.session.Session(region_name="us-west-2")
    aws_fixtures.create_bucket(session, BUCKET)
    client = session.client("s3")
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"v1", b"v2"):
        client.put_object(Bucket=BUCKET, Key="models/mnist/1/saved_model.pb", Body=body)
    client.delete_object(Bucket=BUCKET, Key="models/mnist/1/saved_model.pb")
    ecr = session.client("ecr")
    ecr.create_repository(repositoryName="kubeflow-mnist/train")
    ecr.put_image(repositoryName="kubeflow-mnist/train", imageManifest=test_ecr.MANIFEST, imageTag="abc123")
    settings = kubeflow_settings.model_copy(update={"bucket": BUCKET})
    settings_module.save(settings)
    state.update(settings.state_dir, "image", {"uri": "registry/kubeflow-mnist/train:abc123"})
    (settings.state_dir / "cache" / BUCKET).mkdir(parents=True)
    return settings


def test_kubeflow_skips_a_kind_it_may_not_list_and_one_the_cluster_does_not_serve(
    cluster: settings_module.Settings, fake_api: fake_api_module.FakeApiServer
) -> None:
    fake_api.deny("list", "virtualservices")
    fake_api.unserve("tensorboard.kubeflow.org")
    done = cleanup.clean_up(settings=cluster)
    skipped = {row.item: row.name for row in done.rows if row.status == "skipped"}
    assert "may not list virtualservices.networking.istio.io" in skipped["VirtualService"]
    assert "does not serve tensorboards.tensorboard.kubeflow.org" in skipped["Tensorboard"]
    assert fake_api.get("apis/apps/v1", "deployments", NAMESPACE, "mnist-serving") is None
    assert not [call for call in fake_api.calls("GET") if call["path"].endswith("/virtualservices")]


def test_an_unresolved_backend_is_a_config_error(state_dir: pathlib.Path) -> None:
    unresolved = settings_module.Settings(backend="auto", state_dir=state_dir)
    with pytest.raises(errors.ConfigError, match="backend"):
        cleanup.clean_up(settings=unresolved)


# The command line.


def test_cli_prints_the_report_and_exits_0(
    local_settings: settings_module.Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cleanup.main(["--backend", "local", "--state-dir", str(local_settings.state_dir), "--bucket"])
    shown = capsys.readouterr().out
    assert code == 0
    assert shown.startswith("Clean-up (local backend)") and "removed" in shown
    assert not (local_settings.state_dir / "s3" / local_settings.bucket).exists()


def test_cli_error_is_one_line_and_exit_2(state_dir: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    state_dir.mkdir()
    state.path(state_dir).write_text("{not json")
    assert cleanup.main(["--backend", "local", "--state-dir", str(state_dir)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: parameter 'state_dir'") and error.count("\n") == 1


def test_runs_as_a_module(state_dir: pathlib.Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "helpers.cleanup", "--backend", "local", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert "local processes" in ran.stdout and "already gone" in ran.stdout
