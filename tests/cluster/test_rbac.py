"""tests/rbac.py: the rule files read right, requests mapped to verbs as the API server does, denials named."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import settings as settings_module
from helpers.cluster import _fetch, _kinds
from tests import rbac
from tests.cluster import fake_api as fake_api_module
from tests.cluster.objects import NAMESPACE

ISTIO_NETWORKING = "networking.istio.io"
ISTIO_SECURITY = "security.istio.io"


@pytest.mark.parametrize(
    ("verb", "group", "resource", "allowed_in"),
    [
        # The facts issue 10 quotes from kubeflow/manifests, one release at a time.
        ("patch", ISTIO_SECURITY, "authorizationpolicies", ()),
        ("list", ISTIO_SECURITY, "authorizationpolicies", ("v1.11.0", "26.03")),
        ("patch", ISTIO_NETWORKING, "virtualservices", ("v1.9.1",)),
        ("list", ISTIO_NETWORKING, "virtualservices", rbac.RELEASES),
        ("create", "tensorboard.kubeflow.org", "tensorboards", rbac.RELEASES),
        ("patch", "tensorboard.kubeflow.org", "tensorboards", ()),
        ("patch", "kubeflow.org", "tfjobs", rbac.RELEASES),
        ("patch", "", "persistentvolumeclaims", rbac.RELEASES),
        ("create", "trainer.kubeflow.org", "trainjobs", ("v1.11.0", "26.03")),
    ],
)
def test_what_default_editor_may_do_per_release(
    verb: str, group: str, resource: str, allowed_in: tuple[str, ...]
) -> None:
    found = tuple(release for release in rbac.RELEASES if rbac.may(release, verb, group, resource, namespace="ns"))
    assert found == allowed_in


def test_subresources_are_their_own_rules() -> None:
    assert rbac.may("26.03", "get", "", "pods", namespace="ns", subresource="log")
    assert not rbac.may("26.03", "create", "", "pods", namespace="ns", subresource="log")


def test_every_user_may_review_itself_but_a_rolebinding_grants_nothing_cluster_wide() -> None:
    review = rbac.attributes_of("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert review == rbac.Attributes("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "")
    assert rbac.allows("v1.9.1", review)
    runtimes = rbac.attributes_of("GET", "/apis/trainer.kubeflow.org/v1alpha1/clustertrainingruntimes/tf")
    assert runtimes is not None and not runtimes.namespace
    assert not rbac.allows("26.03", runtimes)


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/p/log", {}, ("get", "", "pods", "log")),
        ("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", {}, ("list", "apps", "deployments", "")),
        (
            "GET",
            f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
            {"watch": "true"},
            ("watch", "apps", "deployments", ""),
        ),
        ("POST", f"/api/v1/namespaces/{NAMESPACE}/secrets", {}, ("create", "", "secrets", "")),
        ("PUT", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/j", {}, ("update", "batch", "jobs", "")),
        ("PATCH", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/a", {}, ("patch", "", "serviceaccounts", "")),
        ("DELETE", f"/api/v1/namespaces/{NAMESPACE}/services/s", {}, ("delete", "", "services", "")),
        ("DELETE", f"/api/v1/namespaces/{NAMESPACE}/services", {}, ("deletecollection", "", "services", "")),
        ("GET", f"/api/v1/namespaces/{NAMESPACE}", {}, ("get", "", "namespaces", "")),
    ],
)
def test_requests_map_to_verbs_as_the_api_server_maps_them(
    method: str, path: str, query: dict[str, str], expected: tuple[str, str, str, str]
) -> None:
    attributes = rbac.attributes_of(method, path, query)
    assert attributes is not None
    assert (attributes.verb, attributes.group, attributes.resource, attributes.subresource) == expected
    assert attributes.namespace == NAMESPACE


@pytest.mark.parametrize("path", ["/version", "/api", "/apis", "/apis/tensorboard.kubeflow.org", "/apis/apps/v1"])
def test_discovery_needs_no_rule(path: str) -> None:
    assert rbac.attributes_of("GET", path) is None


def test_a_path_outside_the_api_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a Kubernetes API path"):
        rbac.attributes_of("GET", "/healthz/ready")


def test_denials_name_the_request_and_the_releases_and_skip_what_was_asked_first() -> None:
    route = f"/apis/networking.istio.io/v1/namespaces/{NAMESPACE}/virtualservices/mnist-ui"
    requests = [
        {"method": "PATCH", "path": route, "query": {}},
        {"method": "PATCH", "path": route, "query": {}},
        {"method": "GET", "path": "/api/v1/namespaces/other/secrets/s", "query": {}},
        {"method": "GET", "path": f"/api/v1/namespaces/{NAMESPACE}/secrets/s", "query": {}},
    ]
    denied = rbac.denials(requests, namespace=NAMESPACE)
    assert denied == [
        f"PATCH {route} (patch networking.istio.io/virtualservices in namespace {NAMESPACE}):"
        " denied in Kubeflow v1.10.2, v1.11.0, 26.03",
        "GET /api/v1/namespaces/other/secrets/s (get core/secrets in namespace other):"
        f" outside the profile namespace {NAMESPACE}",
    ]
    asked = rbac.Attributes("patch", "networking.istio.io", "virtualservices", "", NAMESPACE)
    assert len(rbac.denials(requests, namespace=NAMESPACE, granted=[asked])) == 1


def test_an_unknown_release_is_refused() -> None:
    with pytest.raises(KeyError, match=r"v1\.8\.0"):
        rbac.rules("v1.8.0")


@pytest.mark.rbac_exempt(reason="reads a Secret in another namespace on purpose, to show the proof would refuse it")
def test_the_proof_names_a_request_outside_the_profile_namespace(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    secrets = _kinds.by_name("Secret")
    assert (
        _fetch.get_or_none(
            secrets, "aws-secret", api=api, settings=cluster_settings, namespace="kubeflow", action="read"
        )
        is None
    )
    (denied,) = rbac.denials(fake_api.requests, namespace=NAMESPACE, granted=fake_api.granted)
    assert "GET /api/v1/namespaces/kubeflow/secrets/aws-secret" in denied
    assert "outside the profile namespace" in denied
