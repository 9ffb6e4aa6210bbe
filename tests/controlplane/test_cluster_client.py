"""`helpers.cluster` (apply, delete, wait, create, access, discovery, login, logs) on the real API server.

Moved here from the stand-in's tests in tests/cluster: every call is made as the profile's `default-editor`
(or `default-viewer`, for refusals a release's editor never meets), and what a controller would do is done by
the admin, through the status subresource, a finalizer, or `controllers.Playing` (a kubelet). What a real
server cannot be made to do (injected 5xx, dropped connections, no server-side apply, scripted status
sequences) stays in tests/cluster, each module saying which tests and why.
"""

from __future__ import annotations

import pathlib
import threading
import time
from typing import Any

import pytest
import yaml
from kubernetes import client as kubernetes_client

from controlplane import cluster, errors as controlplane_errors, profile
from helpers import errors, settings as settings_module
from helpers.cluster import _api, _kinds, access, apply, create, delete, discovery, login, logs, wait
from tests.cluster import objects

from . import controllers

MERGE = "application/merge-patch+json"
# A finalizer no controller knows: the object stays terminating until the admin lifts it.
HOLD = "kubeflow-mnist.dev/test-hold"
TENSORBOARDS = "/apis/tensorboard.kubeflow.org/v1alpha1"


def _path(kind: str, namespace: str, name: str | None = None) -> str:
    return _kinds.by_name(kind).path(namespace=namespace, name=name)


def _admin_get(control_plane: cluster.Cluster, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return control_plane.request("GET", _path(kind, namespace, name))
    except controlplane_errors.ControlPlaneError as e:
        if "HTTP 404" in str(e):
            return None
        raise


def _hold(control_plane: cluster.Cluster, kind: str, namespace: str, name: str, *, held: bool) -> None:
    """Add or lift the test finalizer, as a controller that owns cleaning up after the object would."""
    body = {"metadata": {"finalizers": [HOLD] if held else None}}
    control_plane.request("PATCH", _path(kind, namespace, name), body=body, content_type=MERGE)


def _viewer_api(kubeflow_profile: profile.Profile, settings: settings_module.Settings) -> Any:
    return login.connect(settings=settings, kube_config=kubeflow_profile.viewer_kubeconfig)


# ## apply


def test_apply_creates_objects_in_the_settings_namespace(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    namespace = editor_settings.namespace
    applied = apply.apply([objects.config_map(), objects.tfjob()], api=editor_api, settings=editor_settings)
    assert [item["kind"] for item in applied] == ["ConfigMap", "TFJob"]
    stored = _admin_get(control_plane, "TFJob", namespace, "mnist")
    assert stored is not None and stored["metadata"]["uid"] == applied[1]["metadata"]["uid"]
    assert stored["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2
    (managed,) = stored["metadata"]["managedFields"]
    assert (managed["manager"], managed["operation"]) == ("kubeflow-mnist", "Apply")


def test_apply_to_an_existing_object_updates_it_in_place(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    first = apply.apply([objects.tfjob(workers=2)], api=editor_api, settings=editor_settings)[0]
    second = apply.apply([objects.tfjob(workers=4)], api=editor_api, settings=editor_settings)[0]
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 4
    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])


def test_apply_of_a_read_back_object_sends_no_server_fields_and_leaves_its_input_alone(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    # The real server refuses an apply that carries managedFields, and one with a stale resourceVersion.
    namespace = editor_settings.namespace
    stored = apply.apply([objects.config_map(key="one")], api=editor_api, settings=editor_settings)[0]
    body = {"metadata": {"labels": {"changed-by": "someone-else"}}}
    control_plane.request("PATCH", _path("ConfigMap", namespace, "settings"), body=body, content_type=MERGE)
    read_back = {**stored, "data": {"key": "two"}, "status": {"phase": "whatever"}}
    before = repr(read_back)
    apply.apply([read_back], api=editor_api, settings=editor_settings)
    assert repr(read_back) == before
    found = _admin_get(control_plane, "ConfigMap", namespace, "settings")
    assert found is not None and found["data"] == {"key": "two"} and "status" not in found


def test_forbidden_names_the_refused_verb_resource_and_namespace(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    route = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "mnist-ui"},
        "spec": {"hosts": ["*"], "http": [{"route": [{"destination": {"host": "mnist-ui"}}]}]},
    }
    with pytest.raises(errors.ClusterError) as raised:
        apply.apply([route], api=editor_api, settings=editor_settings)
    assert raised.value.status == 403 and raised.value.action == "apply"
    message = str(raised.value)
    assert f"cannot patch virtualservices.networking.istio.io in namespace {editor_settings.namespace}" in message
    assert "VirtualService/mnist-ui" in message


# ## delete


def test_delete_returns_once_the_object_is_really_gone(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    namespace = editor_settings.namespace
    apply.apply([objects.tfjob()], api=editor_api, settings=editor_settings)
    _hold(control_plane, "TFJob", namespace, "mnist", held=True)
    controller = threading.Timer(0.5, _hold, (control_plane, "TFJob", namespace, "mnist"), {"held": False})
    started = time.monotonic()
    controller.start()
    try:
        deleted = delete.delete([objects.tfjob()], api=editor_api, settings=editor_settings, interval_s=0.02)
    finally:
        controller.join()
    assert time.monotonic() - started >= 0.5
    assert deleted == [f"TFJob/mnist in namespace {namespace}"]
    assert _admin_get(control_plane, "TFJob", namespace, "mnist") is None


def test_without_wait_delete_returns_while_the_object_terminates(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    namespace = editor_settings.namespace
    apply.apply([objects.tfjob()], api=editor_api, settings=editor_settings)
    _hold(control_plane, "TFJob", namespace, "mnist", held=True)
    delete.delete([objects.tfjob()], api=editor_api, settings=editor_settings, wait=False)
    terminating = _admin_get(control_plane, "TFJob", namespace, "mnist")
    assert terminating is not None and terminating["metadata"]["deletionTimestamp"]
    _hold(control_plane, "TFJob", namespace, "mnist", held=False)


def test_deleting_a_missing_object_succeeds(editor_api: Any, editor_settings: settings_module.Settings) -> None:
    assert delete.delete([objects.tfjob("never-created")], api=editor_api, settings=editor_settings) == []


def test_a_deletion_that_does_not_finish_times_out_naming_what_is_left(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    namespace = editor_settings.namespace
    apply.apply([objects.tfjob()], api=editor_api, settings=editor_settings)
    _hold(control_plane, "TFJob", namespace, "mnist", held=True)
    try:
        with pytest.raises(errors.WaitTimeout) as raised:
            delete.delete([objects.tfjob()], api=editor_api, settings=editor_settings, timeout_s=0.5, interval_s=0.05)
    finally:
        _hold(control_plane, "TFJob", namespace, "mnist", held=False)
    message = str(raised.value)
    assert "timed out after 0.5 s waiting for deletion of TFJob/mnist" in message
    assert "still present: TFJob/mnist" in message and HOLD in message


def test_an_object_recreated_under_the_same_name_counts_as_gone(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    namespace = editor_settings.namespace
    apply.apply([objects.config_map()], api=editor_api, settings=editor_settings)
    _hold(control_plane, "ConfigMap", namespace, "settings", held=True)

    def finish_and_recreate() -> None:
        _hold(control_plane, "ConfigMap", namespace, "settings", held=False)
        control_plane.request("POST", _path("ConfigMap", namespace), body=objects.config_map())

    someone_else = threading.Timer(0.3, finish_and_recreate)
    someone_else.start()
    try:
        # Waiting follows the uid that was deleted, not the name: the new object does not hold it up.
        delete.delete([objects.config_map()], api=editor_api, settings=editor_settings, timeout_s=5.0, interval_s=0.02)
    finally:
        someone_else.join()
    recreated = _admin_get(control_plane, "ConfigMap", namespace, "settings")
    assert recreated is not None and "deletionTimestamp" not in recreated["metadata"]


def test_delete_by_label_deletes_only_the_matching_objects(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    namespace = editor_settings.namespace
    ours = {"app.kubernetes.io/part-of": "kubeflow-mnist"}
    resources = [
        objects.config_map("ours", labels=ours),
        objects.config_map("theirs", labels={"app.kubernetes.io/part-of": "something-else"}),
        objects.tfjob("mnist"),
    ]
    apply.apply(resources, api=editor_api, settings=editor_settings)
    deleted = delete.delete_by_label(
        "app.kubernetes.io/part-of=kubeflow-mnist",
        kinds=["ConfigMap", "TFJob"],
        api=editor_api,
        settings=editor_settings,
        interval_s=0.02,
    )
    assert sorted(deleted) == [f"ConfigMap/ours in namespace {namespace}", f"TFJob/mnist in namespace {namespace}"]
    assert _admin_get(control_plane, "ConfigMap", namespace, "theirs") is not None
    assert _admin_get(control_plane, "ConfigMap", namespace, "ours") is None


# ## wait: the admin plays the training operator; the real deployment and job controllers do their part


def _set_tfjob_status(control_plane: cluster.Cluster, namespace: str, status: dict[str, Any]) -> None:
    path = _path("TFJob", namespace, "mnist") + "/status"
    control_plane.request("PATCH", path, body={"status": status}, content_type=MERGE)


def _condition(kind: str, message: str) -> dict[str, str]:
    now = "2026-12-03T08:00:00Z"
    return {"type": kind, "status": "True", "reason": f"TFJob{kind}", "message": message, "lastTransitionTime": now}


def test_a_failed_tfjob_raises_with_the_operators_message(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    apply.apply([objects.tfjob()], api=editor_api, settings=editor_settings)
    failed = _condition("Failed", "TFJob mnist has failed because 1 Chief replica(s) failed.")
    status = {"conditions": [_condition("Created", "TFJob mnist is created."), failed]}
    _set_tfjob_status(control_plane, editor_settings.namespace, {**status, "replicaStatuses": {"Chief": {"failed": 1}}})
    with pytest.raises(errors.ClusterError) as raised:
        wait.wait_for_tfjob("mnist", api=editor_api, settings=editor_settings, interval_s=0.05)
    assert "TFJob/mnist" in str(raised.value)
    assert "TFJobFailed: TFJob mnist has failed because 1 Chief replica(s) failed." in str(raised.value)


def test_a_wait_that_times_out_names_the_last_state(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    namespace = editor_settings.namespace
    apply.apply([objects.tfjob()], api=editor_api, settings=editor_settings)
    running = [_condition("Created", "TFJob mnist is created."), _condition("Running", "TFJob mnist is running.")]
    replicas = {"Chief": {"active": 1}, "Worker": {"active": 2}}
    _set_tfjob_status(control_plane, namespace, {"conditions": running, "replicaStatuses": replicas})
    with pytest.raises(errors.WaitTimeout) as raised:
        wait.wait_for_tfjob("mnist", api=editor_api, settings=editor_settings, timeout_s=0.3, interval_s=0.05)
    message = str(raised.value)
    assert message.startswith(f"timed out after 0.3 s waiting for TFJob/mnist in namespace {namespace}")
    assert "last state: Running (TFJob mnist is running.)" in message
    assert "Chief: active 1" in message and "Worker: active 2" in message


def test_waiting_for_a_missing_object_times_out_saying_so(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    with pytest.raises(errors.WaitTimeout, match="last state: not found"):
        wait.wait_for_tfjob("absent", api=editor_api, settings=editor_settings, timeout_s=0.1, interval_s=0.02)


def _deployment(replicas: int = 2, **spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "serving"}},
        "spec": {"containers": [{"name": "serving", "image": "tensorflow/serving:2.20.0"}]},
    }
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": "serving"}}, "template": template, **spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "serving"}, "spec": spec}


def test_a_rollout_is_done_when_every_replica_is_updated_and_available(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    seen: list[dict[str, Any]] = []
    with controllers.Playing(control_plane, editor_settings.namespace):
        apply.apply([_deployment(replicas=2)], api=editor_api, settings=editor_settings)
        wait.wait_for_rollout("serving", api=editor_api, settings=editor_settings, interval_s=0.05)
        applied = apply.apply([_deployment(replicas=3)], api=editor_api, settings=editor_settings)[0]
        status = wait.wait_for_rollout(
            "serving", api=editor_api, settings=editor_settings, interval_s=0.05, on_change=seen.append
        )
    assert status["observedGeneration"] == applied["metadata"]["generation"]
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (3, 3, 3)
    assert seen[-1] == status


def test_a_rollout_past_its_progress_deadline_fails(editor_api: Any, editor_settings: settings_module.Settings) -> None:
    # No kubelet runs the pods: the real deployment controller gives up after the deadline.
    apply.apply([_deployment(progressDeadlineSeconds=1)], api=editor_api, settings=editor_settings)
    with pytest.raises(errors.ClusterError, match=r'ProgressDeadlineExceeded: ReplicaSet "serving-\w+" has timed out'):
        wait.wait_for_rollout("serving", api=editor_api, settings=editor_settings, interval_s=0.1)


def _job() -> dict[str, Any]:
    container = {"name": "build", "image": "executor", "args": ["--destination=registry/mnist:1"]}
    template = {"spec": {"restartPolicy": "Never", "containers": [container]}}
    spec = {"backoffLimit": 0, "template": template}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "build"}, "spec": spec}


def test_a_batch_job_wait_returns_when_the_job_is_complete(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    with controllers.Playing(control_plane, editor_settings.namespace):
        apply.apply([_job()], api=editor_api, settings=editor_settings)
        status = wait.wait_for_job("build", api=editor_api, settings=editor_settings, interval_s=0.05)
    assert {"Complete", "SuccessCriteriaMet"} <= {c["type"] for c in status["conditions"] if c["status"] == "True"}
    assert status["succeeded"] == 1


def test_a_failed_batch_job_raises_with_the_jobs_reason(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    with controllers.Playing(control_plane, editor_settings.namespace, outcome=lambda pod: "Failed"):
        apply.apply([_job()], api=editor_api, settings=editor_settings)
        with pytest.raises(errors.ClusterError) as raised:
            wait.wait_for_job("build", api=editor_api, settings=editor_settings, interval_s=0.05)
    assert str(raised.value).startswith(
        f"run Job/build in namespace {editor_settings.namespace} failed: BackoffLimitExceeded: "
    )


# ## create-or-replace (Tensorboards: create and delete, never patch, in every release)


def board(logspath: str = "pvc://mnist-tensorboard-logs/") -> dict[str, Any]:
    labels = {"app.kubernetes.io/part-of": "kubeflow-mnist"}
    return {
        "apiVersion": "tensorboard.kubeflow.org/v1alpha1",
        "kind": "Tensorboard",
        "metadata": {"name": "mnist-tensorboard", "labels": labels},
        "spec": {"logspath": logspath},
    }


@pytest.mark.parametrize("kubeflow_profile", ["v1.9.1", "26.03"], indirect=True)
def test_create_keeps_the_same_and_replaces_a_changed_one_without_patching(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    (first,) = create.create([board()], api=editor_api, settings=editor_settings)
    (again,) = create.create([board()], api=editor_api, settings=editor_settings)
    assert again["metadata"]["uid"] == first["metadata"]["uid"]
    (changed,) = create.create([board("pvc://other/")], api=editor_api, settings=editor_settings)
    assert changed["metadata"]["uid"] != first["metadata"]["uid"]
    stored = _admin_get(control_plane, "Tensorboard", editor_settings.namespace, "mnist-tensorboard")
    assert stored is not None and stored["spec"]["logspath"] == "pvc://other/"


def test_a_refused_create_is_a_cluster_error(
    kubeflow_profile: profile.Profile, editor_settings: settings_module.Settings
) -> None:
    viewer = _viewer_api(kubeflow_profile, editor_settings)
    try:
        with pytest.raises(errors.ClusterError, match=r"forbidden: cannot create tensorboards\.tensorboard\.kubeflow"):
            create.create([board()], api=viewer, settings=editor_settings)
    finally:
        viewer.close()


# ## access reviews and discovery


def test_a_denial_is_a_no_and_a_subresource_is_asked_as_such(
    kubeflow_profile: profile.Profile, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    pod = _kinds.by_name("Pod")
    assert access.may("create", pod, api=editor_api, settings=editor_settings, subresource="exec")
    assert not access.may("get", pod, api=editor_api, settings=editor_settings, namespace="kube-system")
    viewer = _viewer_api(kubeflow_profile, editor_settings)
    try:
        assert access.may("get", pod, api=viewer, settings=editor_settings, subresource="log")
        assert not access.may("create", pod, api=viewer, settings=editor_settings, subresource="exec")
        assert access.may("list", _kinds.by_name("Tensorboard"), api=viewer, settings=editor_settings)
        assert not access.may("delete", _kinds.by_name("Tensorboard"), api=viewer, settings=editor_settings)
    finally:
        viewer.close()


def test_discovery_of_a_served_group_version_and_of_a_group_the_cluster_lacks(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    assert discovery.serves("tensorboard.kubeflow.org/v1alpha1", api=editor_api, settings=editor_settings)
    assert not discovery.serves("tensorboard.kubeflow.org/v1", api=editor_api, settings=editor_settings)
    assert not discovery.serves("serving.kserve.io/v1beta1", api=editor_api, settings=editor_settings)


# ## login: which configuration wins, and what a refused credential says


def _who(api: Any) -> str:
    review = kubernetes_client.AuthenticationV1Api(api).create_self_subject_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    )
    return str(review.status.user_info.username)


def test_connect_with_a_kubeconfig_logs_in_as_its_user_and_the_default_one_is_found(
    kubeflow_profile: profile.Profile, editor_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    editor = f"system:serviceaccount:{kubeflow_profile.namespace}:default-editor"
    api = login.connect(settings=editor_settings, kube_config=kubeflow_profile.editor_kubeconfig)
    try:
        assert _who(api) == editor
    finally:
        api.close()
    environ = {"KUBECONFIG": str(kubeflow_profile.viewer_kubeconfig)}
    api = login.connect(settings=editor_settings, environ=environ, service_account_dir=tmp_path / "no-such-dir")
    try:
        assert _who(api) == editor.replace("default-editor", "default-viewer")
    finally:
        api.close()


def test_a_refused_token_says_to_renew_the_credentials(
    kubeflow_profile: profile.Profile, editor_settings: settings_module.Settings, tmp_path: pathlib.Path
) -> None:
    text = kubeflow_profile.editor_kubeconfig.read_text()
    config = yaml.safe_load(text)
    config["users"][0]["user"]["token"] = "expired-or-made-up"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(errors.ClusterError) as raised:
        login.connect(settings=editor_settings, kube_config=path)
    assert raised.value.status == 401 and "refused the credentials; renew them" in str(raised.value)


# ## refusals in words, and logs where no pod is left


def test_each_refusal_reads_as_what_to_do(editor_api: Any, editor_settings: settings_module.Settings) -> None:
    namespace = editor_settings.namespace
    config_maps = _kinds.by_name("ConfigMap")
    with pytest.raises(errors.ClusterError) as missing:
        _api.request(
            editor_api, _api.on(config_maps, "get", namespace=namespace, name="absent"), settings=editor_settings
        )
    assert missing.value.status == 404 and 'not found: configmaps "absent" not found' in str(missing.value)
    created = _api.on(config_maps, "create", namespace=namespace)
    _api.request(editor_api, created, settings=editor_settings, body=objects.config_map())
    with pytest.raises(errors.ClusterError) as conflict:
        _api.request(editor_api, created, settings=editor_settings, body=objects.config_map())
    assert conflict.value.status == 409 and 'conflict: configmaps "settings" already exists' in str(conflict.value)
    listed = _api.on(config_maps, "list", namespace=namespace)
    with pytest.raises(errors.ClusterError) as bad:
        _api.request(editor_api, listed, settings=editor_settings, query=[("labelSelector", "a in (b")])
    assert bad.value.status == 400 and "unable to parse requirement" in str(bad.value)


def test_task_log_of_a_pod_that_is_not_there_says_why(
    editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    with pytest.raises(errors.ClusterError) as raised:
        logs.task_log(logs.TFJOB_PODS, "mnist", "Chief", api=editor_api, settings=editor_settings)
    assert raised.value.status == 404
    assert "TFJob/mnist chief-0" in str(raised.value) and "cleanPodPolicy" in str(raised.value)


def test_logs_by_selector_leave_out_a_pod_whose_node_is_gone(
    control_plane: cluster.Cluster, editor_api: Any, editor_settings: settings_module.Settings
) -> None:
    # The real API server answers 404 for pods/log of a pod bound to a node it no longer has; the stand-in
    # always had a log to give. Reading by selector is best-effort; by name, the 404 stays the caller's.
    namespace = editor_settings.namespace
    pod = objects.pod("trainer", labels={"app": "trainer"})
    control_plane.request(
        "POST", _path("Pod", namespace), body={**pod, "metadata": {**pod["metadata"], "namespace": namespace}}
    )
    with controllers.Playing(control_plane, namespace, node="scaled-away"):
        deadline = time.monotonic() + 10
        while (_admin_get(control_plane, "Pod", namespace, "trainer") or {})["status"].get("phase") == "Pending":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert logs.pod_logs(api=editor_api, settings=editor_settings, selector="app=trainer") == {}
    with pytest.raises(errors.ClusterError) as raised:
        logs.pod_logs(api=editor_api, settings=editor_settings, pod="trainer")
    assert raised.value.status == 404 and 'pods "scaled-away" not found' in str(raised.value)
