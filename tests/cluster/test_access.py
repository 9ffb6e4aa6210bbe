"""helpers.cluster.access: a SelfSubjectAccessReview answers "may I", as each Kubeflow release would."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import errors, settings as settings_module
from helpers.cluster import _kinds, access

from . import fake_api as fake_api_module
from .objects import NAMESPACE


def test_asks_the_server_about_the_verb_kind_and_namespace(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    assert access.may("create", _kinds.by_name("VirtualService"), api=api, settings=cluster_settings)
    (review,) = fake_api.calls("POST")
    assert review["path"] == access.REVIEWS_PATH
    assert review["body"]["spec"]["resourceAttributes"] == {
        "namespace": NAMESPACE,
        "verb": "create",
        "group": "networking.istio.io",
        "resource": "virtualservices",
    }


@pytest.mark.parametrize(("release", "allowed"), [("v1.9.1", True), ("v1.10.2", False), ("26.03", False)])
def test_the_answer_follows_the_release(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings,
    release: str, allowed: bool,
) -> None:  # fmt: skip
    fake_api.as_release(release)
    kind = _kinds.by_name("VirtualService")
    assert access.may("patch", kind, api=api, settings=cluster_settings) is allowed
    assert access.may("list", kind, api=api, settings=cluster_settings)


def test_a_scripted_denial_is_a_no_and_a_subresource_is_asked_as_such(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.deny("get", "pods/log")
    assert not access.may("get", _kinds.by_name("Pod"), api=api, settings=cluster_settings, subresource="log")
    assert access.may("get", _kinds.by_name("Pod"), api=api, settings=cluster_settings)


def test_a_server_that_cannot_answer_is_a_cluster_error(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    fake_api.fail_next(500, 500, 500)
    with pytest.raises(errors.ClusterError, match="may list"):
        access.may("list", _kinds.by_name("Tensorboard"), api=api, settings=cluster_settings)
