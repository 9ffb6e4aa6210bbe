"""The real JobSet and Trainer v2 controllers on the real API server: a TrainJob from the kubeflow backend,
submitted as default-editor, becomes a JobSet, Jobs and Pods made by the real controllers.

There is no node in this tier, so the pods stay Pending: what is proven is everything up to the kubelet
(admission by Trainer's and JobSet's own webhooks, the mapping of the runtime, the env and names that
model/tf_config.py turns into TF_CONFIG, the garbage collector's clean-up).
"""

from __future__ import annotations

import importlib.util
import logging
import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from controlplane import build, cluster, errors as controlplane_errors, profile, trainer
from helpers import backends, errors, settings as settings_module, workloads
from helpers.cluster import delete, training_apis
from tests.aws import conftest as aws_fixtures

aws_environment = aws_fixtures.aws_environment
mocked_aws = aws_fixtures.mocked_aws

logger = logging.getLogger(__name__)

REPO = pathlib.Path(__file__).resolve().parents[2]
# Seconds for the three controllers (Trainer, JobSet, Job) to make the pods on a busy 2-core machine.
PODS_TIMEOUT_S = 60.0
# The run is left waiting on Pending pods: the backend's wait ends after this, and the test goes on.
BACKEND_WAIT_S = 15.0
ROLES = {"chief": 1, "ps": 1, "worker": 2}


def _tf_config_module() -> Any:
    """model/tf_config.py as the training image has it (it is no package of this repository)."""
    spec = importlib.util.spec_from_file_location("tf_config", REPO / "model" / "tf_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tf_config = _tf_config_module()


@pytest.fixture(scope="module")
def controllers(control_plane: cluster.Cluster) -> Iterator[dict[str, float]]:
    """JobSet and Trainer running against the control plane, with the runtime installed; stopped after the
    module when it started them. Yields the seconds each took to become ready (empty when already running)."""
    already_running = all(trainer.status(control_plane).values())
    timings = trainer.up(control_plane)
    logger.info("controllers ready: %s", {name: f"{seconds:.1f} s" for name, seconds in timings.items()})
    yield timings
    if not already_running:
        trainer.down(control_plane)
    # Leave the session's control plane as the module found it: other tests judge a cluster where no
    # administrator installed Trainer's runtime or its read binding.
    runtime = yaml.safe_load(trainer.RUNTIME_MANIFEST.read_text())["metadata"]["name"]
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    for path in (
        f"{rbac}/clusterrolebindings/{trainer.RUNTIME_READERS}",
        f"{rbac}/clusterroles/{trainer.RUNTIME_READERS}",
        f"/apis/trainer.kubeflow.org/v1alpha1/clustertrainingruntimes/{runtime}",
    ):
        control_plane.request("DELETE", path)


@pytest.fixture
def settings(
    kubeflow_profile: profile.Profile,
    editor_settings: settings_module.Settings,
    mocked_aws: None,
    monkeypatch: pytest.MonkeyPatch,
) -> settings_module.Settings:
    """Kubeflow-backend settings as default-editor, logging in the way the notebook does (KUBECONFIG)."""
    monkeypatch.setenv("KUBECONFIG", str(kubeflow_profile.editor_kubeconfig))
    return editor_settings.model_copy(
        update={"bucket": "mnist-bucket", "region": "us-west-2", "wait_timeout_s": BACKEND_WAIT_S}
    )


def _items(control_plane: cluster.Cluster, path: str, selector: str) -> list[dict[str, Any]]:
    return control_plane.request("GET", f"{path}?labelSelector={selector}").get("items") or []


def _wait(what: str, check: Any, timeout_s: float = PODS_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen after {timeout_s:.0f} s")
        time.sleep(0.2)


def _pod_env(pod: dict[str, Any]) -> dict[str, str]:
    """The env the kubelet would give the container: values, and the downward API's fields resolved."""
    env = {}
    for variable in pod["spec"]["containers"][0].get("env") or []:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
            continue
        path = variable["valueFrom"]["fieldRef"]["fieldPath"]
        if path == "metadata.namespace":
            env[variable["name"]] = pod["metadata"]["namespace"]
        elif path.startswith("metadata.labels['"):
            env[variable["name"]] = pod["metadata"]["labels"][path[len("metadata.labels['") : -2]]
        elif path.startswith("metadata.annotations['"):
            env[variable["name"]] = pod["metadata"]["annotations"][path[len("metadata.annotations['") : -2]]
        else:
            raise AssertionError(f"unexpected fieldRef {path}")
    return env


def test_controllers_start_and_up_is_idempotent(control_plane: cluster.Cluster, controllers: dict[str, float]) -> None:
    assert all(trainer.status(control_plane).values())
    assert trainer.up(control_plane) == {}
    for name in ("jobset-mutating-webhook-configuration", "validator.trainer.kubeflow.org"):
        kind = "mutating" if "mutating" in name else "validating"
        found = control_plane.request("GET", f"{trainer.WEBHOOKS_API}/{kind}webhookconfigurations/{name}")
        assert found["webhooks"][0]["clientConfig"]["url"].startswith("https://127.0.0.1:")


def test_auto_picks_trainjob_and_the_runtime_is_readable(
    controllers: dict[str, float], settings: settings_module.Settings, editor_api: Any
) -> None:
    backend = backends.get(settings=settings)
    served = training_apis.discover(api=editor_api, settings=settings, runtime_name="tensorflow-ps")
    # Read through Trainer's system:authenticated binding, not assumed: kubeflow-edit alone may not read it.
    assert served.runtime and not served.runtime_unreadable
    assert served.runtime["metadata"]["name"] == "tensorflow-ps"
    assert backend.training_api() == "trainjob"
    # kubeflow-edit (26.03) creates TrainJobs but may not install runtimes: that stays the administrator's step.
    assert backend.may("create", "TrainJob") and backend.may("delete", "TrainJob")
    assert not backend.may("create", "ClusterTrainingRuntime")


def test_a_trainjob_becomes_jobset_jobs_and_pending_pods_then_is_cleaned_up(
    control_plane: cluster.Cluster, controllers: dict[str, float], settings: settings_module.Settings, editor_api: Any
) -> None:
    namespace = settings.namespace
    backend = backends.get(settings=settings)
    backend.grant_access()  # notebook 01: the pods' ServiceAccount (and the S3 keys' Secret)
    job = workloads.trainjob(
        settings=settings,
        image="registry.example/mnist:test",
        run_id="controlplane",
        num_workers=ROLES["worker"],
        num_ps=ROLES["ps"],
        train_steps=40,
        batch_size=32,
        learning_rate=0.01,
        train_subset=2000,
        test_subset=500,
    )
    name = job["metadata"]["name"]
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            backend.run_training(job)
        except (errors.WaitTimeout, errors.ClusterError) as e:
            outcome.append(e)

    started = time.monotonic()
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    selector = f"jobset.sigs.k8s.io/jobset-name={name}"

    def all_pods() -> list[dict[str, Any]] | None:
        found = _items(control_plane, f"/api/v1/namespaces/{namespace}/pods", selector)
        return found if len(found) == sum(ROLES.values()) else None

    pods = _wait("the TrainJob's pods", all_pods)
    pods_after_s = time.monotonic() - started
    logger.info("TrainJob %s: %d pods %.1f s after run_training began", name, len(pods), pods_after_s)
    runner.join(BACKEND_WAIT_S + 30)
    # No node runs them: the backend's wait ends with its timeout, the run itself was accepted.
    assert len(outcome) == 1 and isinstance(outcome[0], errors.WaitTimeout), outcome

    trainjob = control_plane.request(
        "GET", f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/{namespace}/trainjobs/{name}"
    )
    jobset = control_plane.request("GET", f"/apis/jobset.x-k8s.io/v1alpha2/namespaces/{namespace}/jobsets/{name}")
    assert [owner["uid"] for owner in jobset["metadata"]["ownerReferences"]] == [trainjob["metadata"]["uid"]]
    assert [job["name"] for job in jobset["spec"]["replicatedJobs"]] == ["worker", "chief", "ps"]
    # JobSet's webhook filled what its controller dereferences.
    assert jobset["spec"]["network"]["enableDNSHostnames"] is True
    assert jobset["spec"]["startupPolicy"]["startupPolicyOrder"] == "AnyOrder"
    assert jobset["spec"]["successPolicy"]["targetReplicatedJobs"] == ["chief"]
    jobs = _items(control_plane, f"/apis/batch/v1/namespaces/{namespace}/jobs", selector)
    assert {job["metadata"]["name"]: job["spec"]["parallelism"] for job in jobs} == {
        f"{name}-{role}-0": count for role, count in ROLES.items()
    }
    service = control_plane.request("GET", f"/api/v1/namespaces/{namespace}/services/{name}")
    assert service["spec"]["clusterIP"] == "None"

    addresses = set()
    configs = {}
    for pod in pods:
        labels = pod["metadata"]["labels"]
        role, index = (
            labels["jobset.sigs.k8s.io/replicatedjob-name"],
            int(labels["batch.kubernetes.io/job-completion-index"]),
        )
        # Pending, unscheduled: no node in this tier.
        assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
        assert pod["spec"]["hostname"] == f"{name}-{role}-0-{index}" and pod["spec"]["subdomain"] == name
        assert pod["spec"]["serviceAccountName"] == settings.service_account
        container = pod["spec"]["containers"][0]
        assert container["image"] == "registry.example/mnist:test"
        env = _pod_env(pod)
        assert env["JOB_COMPLETION_INDEX"] == str(index)
        configs[(role, index)] = tf_config.from_jobset(env)
        addresses.add(f"{pod['spec']['hostname']}.{pod['spec']['subdomain']}.{namespace}.svc:2222")
    assert sorted(configs) == sorted((role, i) for role, count in ROLES.items() for i in range(count))
    for (role, index), config in configs.items():
        assert config["task"] == {"type": role, "index": index}
        # Every address in TF_CONFIG is a pod's stable name: the same cluster for every task.
        assert {a for addresses_of in config["cluster"].values() for a in addresses_of} == addresses

    # Deleted as default-editor, in the background (Trainer v2.3.0 re-creates the JobSet of an unfinished
    # TrainJob in a foreground deletion, see helpers/cluster/delete.py): the call returns once the TrainJob
    # and its pods are gone, and nothing re-creates the JobSet.
    started = time.monotonic()
    deleted = delete.delete([job], api=editor_api, settings=settings, timeout_s=60)
    assert deleted == [f"TrainJob/{name} in namespace {namespace}"]
    assert not _items(control_plane, f"/api/v1/namespaces/{namespace}/pods", selector)
    print(f"TrainJob and its pods deleted in {time.monotonic() - started:.1f} s")
    jobsets = f"/apis/jobset.x-k8s.io/v1alpha2/namespaces/{namespace}/jobsets"
    _wait("the JobSet gone with its TrainJob", lambda: not _items(control_plane, jobsets, ""), timeout_s=30)


def test_down_stops_both_and_unregisters_their_webhooks_then_up_starts_again(
    control_plane: cluster.Cluster, controllers: dict[str, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sorted(trainer.down(control_plane)) == sorted(trainer.PROCESSES)
    assert not any(trainer.status(control_plane).values())
    # Fail-closed webhooks of a stopped controller would refuse every TrainJob and JobSet: they are gone.
    for kind, configuration, _ in (*trainer.JOBSET_WEBHOOKS, *trainer.TRAINER_WEBHOOKS):
        with pytest.raises(controlplane_errors.ControlPlaneError, match="HTTP 404"):
            control_plane.request("GET", f"{trainer.WEBHOOKS_API}/{kind.lower()}s/{configuration}")
    assert trainer.down(control_plane) == []
    # A controller that exits at once: up says so with its log, and leaves no process and no webhook behind.
    built = build.binary
    monkeypatch.setattr(build, "binary", lambda name: pathlib.Path("/bin/false") if "trainer" in name else built(name))
    with pytest.raises(
        controlplane_errors.ControlPlaneError, match="trainer-controller-manager exited during start-up"
    ):
        trainer.up(control_plane)
    assert not any(trainer.status(control_plane).values())
    with pytest.raises(controlplane_errors.ControlPlaneError, match="HTTP 404"):
        control_plane.request(
            "GET", f"{trainer.WEBHOOKS_API}/mutatingwebhookconfigurations/{trainer.JOBSET_WEBHOOKS[0][1]}"
        )
    monkeypatch.undo()
    assert set(trainer.up(control_plane)) == set(trainer.PROCESSES)
    assert all(trainer.status(control_plane).values())
