"""Contract tests for `helpers.cluster.delete`: waits until gone, 404 is success, clean-up by label."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import apply, delete

from . import fake_api as fake_api_module, objects

KUBEFLOW = "apis/kubeflow.org/v1"


def test_delete_returns_once_the_object_is_really_gone(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([objects.tfjob()], api=api, settings=cluster_settings)
    fake_api.deletion_delay_s = 0.3
    started = time.monotonic()

    deleted = delete.delete([objects.tfjob()], api=api, settings=cluster_settings, interval_s=0.02)

    assert time.monotonic() - started >= 0.3
    assert deleted == [f"TFJob/mnist in namespace {objects.NAMESPACE}"]
    assert fake_api.get(KUBEFLOW, "tfjobs", objects.NAMESPACE, "mnist") is None
    assert fake_api.calls("DELETE")[0]["body"]["propagationPolicy"] == "Foreground"
    assert len(fake_api.calls("GET")) > 2  # it looked again while the object was terminating


def test_without_wait_delete_returns_while_the_object_terminates(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([objects.tfjob()], api=api, settings=cluster_settings)
    fake_api.deletion_delay_s = 30.0

    delete.delete([objects.tfjob()], api=api, settings=cluster_settings, wait=False)

    terminating = fake_api.get(KUBEFLOW, "tfjobs", objects.NAMESPACE, "mnist")
    assert terminating is not None and terminating["metadata"]["deletionTimestamp"]


def test_deleting_a_missing_object_succeeds(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    deleted = delete.delete([objects.tfjob("never-created")], api=api, settings=cluster_settings)

    assert deleted == []
    assert len(fake_api.calls("DELETE")) == 1


def test_a_deletion_that_does_not_finish_times_out_naming_what_is_left(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([objects.tfjob()], api=api, settings=cluster_settings)
    fake_api.deletion_delay_s = 30.0

    with pytest.raises(errors.WaitTimeout) as raised:
        delete.delete([objects.tfjob()], api=api, settings=cluster_settings, timeout_s=0.3, interval_s=0.05)

    message = str(raised.value)
    assert "timed out after 0.3 s waiting for deletion of TFJob/mnist" in message
    assert "still present: TFJob/mnist" in message and "foregroundDeletion" in message


def test_an_object_recreated_under_the_same_name_counts_as_gone(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    apply.apply([objects.config_map()], api=api, settings=cluster_settings)
    fake_api.deletion_delay_s = 30.0
    key = ("api/v1", "configmaps", objects.NAMESPACE, "settings")

    def finish_and_recreate() -> None:
        fake_api.finish_deletion(*key)
        fake_api.add(
            "api/v1",
            "configmaps",
            {**objects.config_map(), "metadata": {"name": "settings", "namespace": objects.NAMESPACE}},
        )

    someone_else = threading.Timer(0.2, finish_and_recreate)
    someone_else.start()
    try:
        # Waiting follows the uid that was deleted, not the name: the new object does not hold it up.
        delete.delete([objects.config_map()], api=api, settings=cluster_settings, timeout_s=3.0, interval_s=0.02)
    finally:
        someone_else.join()

    recreated = fake_api.get(*key)
    assert recreated is not None and "deletionTimestamp" not in recreated["metadata"]


def test_delete_by_label_deletes_only_the_matching_objects(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    ours = {"app.kubernetes.io/part-of": "kubeflow-mnist"}
    resources = [
        objects.config_map("ours", labels=ours),
        objects.config_map("theirs", labels={"app.kubernetes.io/part-of": "something-else"}),
        objects.tfjob("mnist"),
    ]
    apply.apply(resources, api=api, settings=cluster_settings)

    deleted = delete.delete_by_label(
        "app.kubernetes.io/part-of=kubeflow-mnist",
        kinds=["ConfigMap", "TFJob"],
        api=api,
        settings=cluster_settings,
        interval_s=0.02,
    )

    assert sorted(deleted) == [
        f"ConfigMap/ours in namespace {objects.NAMESPACE}",
        f"TFJob/mnist in namespace {objects.NAMESPACE}",
    ]
    assert fake_api.get("api/v1", "configmaps", objects.NAMESPACE, "theirs") is not None
    assert fake_api.get("api/v1", "configmaps", objects.NAMESPACE, "ours") is None


@pytest.mark.parametrize(
    ("selector", "kinds", "parameter"), [(" ", ["ConfigMap"], "selector"), ("a=b", ["Node"], "kind")]
)
def test_delete_by_label_refuses_what_it_cannot_do_safely(
    api: Any,
    fake_api: fake_api_module.FakeApiServer,
    cluster_settings: settings_module.Settings,
    selector: str,
    kinds: list[str],
    parameter: str,
) -> None:
    with pytest.raises(errors.ConfigError) as raised:
        delete.delete_by_label(selector, kinds=kinds, api=api, settings=cluster_settings)

    assert raised.value.parameter == parameter
    assert fake_api.calls("DELETE") == []
