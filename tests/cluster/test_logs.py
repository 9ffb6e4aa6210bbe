"""`helpers.cluster.logs` against the API server stand-in: a real API server serves pods/log only from a kubelet.

The control plane in tests/controlplane has none (the node agent runs pods only in `make e2e`), so container
output, tails, selectors and a pods/log refusal (no Kubeflow release refuses it to default-editor or
default-viewer) stay here. A replica whose pod is gone: tests/controlplane/test_cluster_client.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import logs

from . import fake_api as fake_api_module, objects

CORE = "api/v1"


def _replica(job: str, replica_type: str, index: int) -> dict[str, Any]:
    labels = {logs.JOB_NAME_LABEL: job, logs.REPLICA_TYPE_LABEL: replica_type, logs.REPLICA_INDEX_LABEL: str(index)}
    return objects.pod(f"{job}-{replica_type}-{index}", labels=labels, containers=("tensorflow", "istio-proxy"))


def test_pod_logs_reads_one_container_and_keeps_the_tail(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.add(CORE, "pods", objects.pod("web", labels={"app": "web"}, containers=("web", "sidecar")))
    fake_api.set_logs(objects.NAMESPACE, "web", "web", "one\ntwo\nthree\n")
    fake_api.set_logs(objects.NAMESPACE, "web", "sidecar", "sidecar noise\n")

    found = logs.pod_logs(api=api, settings=cluster_settings, pod="web", container="web", tail_lines=2)

    assert found == {"web": "two\nthree\n"}
    assert fake_api.calls("GET")[-1]["query"] == {"container": "web", "tailLines": "2"}


def test_a_log_line_that_is_json_stays_the_text_it_was(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    line = '{"step": 100, "loss": 0.25}\n'
    fake_api.add(CORE, "pods", objects.pod("trainer", labels={}))
    fake_api.set_logs(objects.NAMESPACE, "trainer", "tensorflow", line)

    assert logs.pod_logs(api=api, settings=cluster_settings, pod="trainer") == {"trainer": line}


def test_pod_logs_by_selector_reads_every_matching_pod(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    for name, app in (("ui-1", "ui"), ("ui-2", "ui"), ("serving-1", "serving")):
        fake_api.add(CORE, "pods", objects.pod(name, labels={"app": app}, containers=("main",)))
        fake_api.set_logs(objects.NAMESPACE, name, "main", f"hello from {name}\n")

    found = logs.pod_logs(api=api, settings=cluster_settings, selector="app=ui")

    assert found == {"ui-1": "hello from ui-1\n", "ui-2": "hello from ui-2\n"}
    assert logs.pod_logs(api=api, settings=cluster_settings, selector="app=nothing") == {}


def test_task_log_reads_the_tensorflow_container_of_a_tfjob_replica(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    for replica_type, index in (("chief", 0), ("worker", 0), ("worker", 1)):
        name = f"mnist-{replica_type}-{index}"
        fake_api.add(CORE, "pods", _replica("mnist", replica_type, index))
        fake_api.set_logs(objects.NAMESPACE, name, "tensorflow", f"{name}: test accuracy 0.97\n")
        fake_api.set_logs(objects.NAMESPACE, name, "istio-proxy", "envoy\n")

    assert (
        logs.task_log(logs.TFJOB_PODS, "mnist", "Chief", api=api, settings=cluster_settings)
        == "mnist-chief-0: test accuracy 0.97\n"
    )
    assert logs.task_log(logs.TFJOB_PODS, "mnist", "Worker", 1, api=api, settings=cluster_settings).startswith(
        "mnist-worker-1:"
    )


def test_reading_logs_without_permission_names_pods_log(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.add(CORE, "pods", objects.pod("trainer", labels={}))
    fake_api.deny("get", "pods/log")

    with pytest.raises(errors.ClusterError) as raised:
        logs.pod_logs(api=api, settings=cluster_settings, pod="trainer")

    assert f"cannot get pods/log in namespace {objects.NAMESPACE}" in str(raised.value)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({}, "pod/selector"),
        ({"pod": "a", "selector": "b=c"}, "pod/selector"),
        ({"pod": "a", "tail_lines": -1}, "tail_lines"),
    ],
)
def test_pod_logs_needs_exactly_one_way_to_find_pods(
    api: Any, cluster_settings: settings_module.Settings, arguments: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(errors.ConfigError) as raised:
        logs.pod_logs(api=api, settings=cluster_settings, **arguments)

    assert raised.value.parameter == parameter
