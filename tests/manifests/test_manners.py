"""Good manners on a shared cluster, for every rendered workload.

Non-root containers without privilege escalation, requests and limits, readiness probes on
servers, Services and routes that reach real pods and ports, Istio routing through the Kubeflow
gateway under /mnist/<namespace>/, the sidecar left on, credentials and AWS hosts that match
the settings, and a Kubeflow Tensorboard whose volume is filled beside its pod.
"""

from __future__ import annotations

import collections.abc
import re
from typing import Any

import pytest

from helpers import manifests
from tests.manifests import cases

# (component, container) pairs allowed to run as root. The kaniko executor unpacks the base
# image's root filesystem and must own every file it writes, so it runs as uid 0; it runs in a
# short-lived Job pod of its own and still may not escalate privileges (checked below).
ROOT_ALLOWED = {("build-job", "executor")}
BATCH_KINDS = {"Job", "TFJob"}
GATEWAY = "kubeflow/kubeflow-gateway"
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?$")
_UNITS = {None: 1.0, "m": 1e-3, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}


def _pods(resource: manifests.Resource) -> list[dict[str, Any]]:
    """The pod templates of a workload (none for other kinds)."""
    spec = resource.get("spec") or {}
    if resource["kind"] in {"Deployment", "Job"}:
        return [spec["template"]]
    return [replica["template"] for replica in (spec.get("tfReplicaSpecs") or {}).values()]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]


def _quantity(text: object) -> float:
    match = _QUANTITY.match(str(text))
    assert match, f"{text!r} is not a quantity these manifests use"
    return float(match.group(1)) * _UNITS[match.group(2)]


def _workloads(resources: list[manifests.Resource]) -> list[tuple[manifests.Resource, dict[str, Any]]]:
    return [(resource, pod) for resource in resources for pod in _pods(resource)]


def test_containers_run_as_non_root_without_privilege_escalation(resources: list[manifests.Resource]) -> None:
    for resource, pod in _workloads(resources):
        pod_context = pod["spec"].get("securityContext") or {}
        component = resource["metadata"]["labels"]["app.kubernetes.io/component"]
        for container in _containers(pod):
            where = f"{resource['kind']}/{resource['metadata']['name']} container {container['name']}"
            context = {**pod_context, **(container.get("securityContext") or {})}
            assert context.get("allowPrivilegeEscalation") is False, f"{where} may escalate privileges"
            assert not context.get("privileged"), f"{where} is privileged"
            if (component, container["name"]) not in ROOT_ALLOWED:
                assert context.get("runAsNonRoot") is True, f"{where} may run as root"
                assert context.get("runAsUser", 1) != 0, f"{where} runs as uid 0"


def test_containers_request_and_limit_cpu_and_memory(resources: list[manifests.Resource]) -> None:
    for _, pod in _workloads(resources):
        for container in _containers(pod):
            requests = container["resources"]["requests"]
            limits = container["resources"]["limits"]
            for resource_name in ("cpu", "memory"):
                assert _quantity(requests[resource_name]) <= _quantity(limits[resource_name]), container["name"]


def test_servers_have_readiness_probes_on_their_own_ports(resources: list[manifests.Resource]) -> None:
    for resource in resources:
        if resource["kind"] != "Deployment":
            continue
        for container in resource["spec"]["template"]["spec"]["containers"]:
            ports = {port.get("name") for port in container.get("ports", [])}
            ports |= {port["containerPort"] for port in container.get("ports", [])}
            if ports:
                probe = container.get("readinessProbe")
                assert probe, f"server container {container['name']} has no readinessProbe"
                assert probe["httpGet"]["port"] in ports


def _container_ports(pod: dict[str, Any]) -> set[object]:
    ports: set[object] = set()
    for container in pod["spec"]["containers"]:
        for port in container.get("ports", []):
            ports |= {port["containerPort"], port.get("name")}
    return ports


def test_services_select_pods_and_ports_that_exist(resources: list[manifests.Resource]) -> None:
    for service in (resource for resource in resources if resource["kind"] == "Service"):
        selector = service["spec"]["selector"].items()
        pods = [pod for _, pod in _workloads(resources) if selector <= pod["metadata"]["labels"].items()]
        assert pods, f"Service {service['metadata']['name']} selects no pod of this render"
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in _container_ports(pods[0]), port


def test_routes_go_through_the_kubeflow_gateway_under_the_namespace_prefix(
    case: cases.Case, resources: list[manifests.Resource]
) -> None:
    namespace = case.settings().namespace
    services = {}
    for service in (resource for resource in resources if resource["kind"] == "Service"):
        host = f"{service['metadata']['name']}.{namespace}.svc.cluster.local"
        services[host] = {port["port"] for port in service["spec"]["ports"]}
    for virtual_service in (resource for resource in resources if resource["kind"] == "VirtualService"):
        spec = virtual_service["spec"]
        assert spec["gateways"] == [GATEWAY]
        for route in spec["http"]:
            for match in route["match"]:
                (uri,) = match["uri"].values()
                assert uri.startswith(f"/{case.settings().app_name}/{namespace}/"), uri
            for destination in (target["destination"] for target in route.get("route", [])):
                assert destination["port"]["number"] in services[destination["host"]], destination


def test_only_batch_pods_turn_the_istio_sidecar_off(resources: list[manifests.Resource]) -> None:
    # A sidecar never exits, so a Job's pod with one would never complete; servers keep theirs
    # (the upstream example turned the model server's off; the profile's own ns-owner-access-istio
    # policy already lets same-namespace callers such as the UI reach it).
    for resource, pod in _workloads(resources):
        inject = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/inject", "true")
        assert inject == "true" or resource["kind"] in BATCH_KINDS, resource["metadata"]["name"]


def test_images_are_pinned_to_a_tag(resources: list[manifests.Resource]) -> None:
    for _, pod in _workloads(resources):
        for container in _containers(pod):
            tag = container["image"].rpartition("/")[2].partition(":")[2]
            assert tag and tag != "latest", f"{container['image']} is not pinned"


def test_pods_run_as_the_settings_account_with_the_settings_credentials(
    case: cases.Case, resources: list[manifests.Resource]
) -> None:
    settings = case.settings()
    for _, pod in _workloads(resources):
        assert pod["spec"]["serviceAccountName"] == settings.service_account
        for container in _containers(pod):
            environment = {variable["name"]: variable.get("value") for variable in container.get("env", [])}
            secrets = {source["secretRef"]["name"] for source in container.get("envFrom", []) if "secretRef" in source}
            if "AWS_REGION" in environment:
                assert environment["AWS_REGION"] == settings.region
                # With IRSA, static keys in the environment would win over the role: none may be there.
                assert secrets == (set() if settings.role_arn else {"aws-secret"}), container["name"]
    for account in (resource for resource in resources if resource["kind"] == "ServiceAccount"):
        assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == settings.role_arn


def _values(node: object) -> collections.abc.Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item)
    else:
        yield str(node)


def test_aws_names_belong_to_the_region_partition(case: cases.Case, resources: list[manifests.Resource]) -> None:
    settings = case.settings()
    # Values only: keys such as the `eks.amazonaws.com/role-arn` annotation are names, not hosts.
    text = "\n".join(_values(resources))
    china = settings.partition == "aws-cn"
    for host in re.findall(r"[\w.-]+\.amazonaws\.com(?:\.cn)?", text):
        assert host.endswith(".com.cn") == china, host
    for arn in re.findall(r"arn:[\w-]+:", text):
        assert arn == f"arn:{settings.partition}:", arn


def _rendered(settings_factory: collections.abc.Callable[[], Any], name: str) -> list[manifests.Resource]:
    ids = {f"{name}-default", f"{name}-custom"}
    (case,) = [case for case in cases.CASES if case.settings is settings_factory and case.id in ids]
    return case.resources()


@pytest.mark.parametrize("settings_factory", [cases.default_settings, cases.custom_settings], ids=["default", "custom"])
def test_the_tensorboard_reads_the_claim_that_a_pod_beside_it_fills_from_the_run(
    settings_factory: collections.abc.Callable[[], Any],
) -> None:
    settings = settings_factory()
    resources = _rendered(settings_factory, "tensorboard-resource")
    assert [resource["kind"] for resource in resources] == ["PersistentVolumeClaim", "Tensorboard", "Deployment"]
    claim, board, sync = resources
    assert board["spec"]["logspath"] == f"pvc://{claim['metadata']['name']}/"
    pod = sync["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    fallback = manifests.find(
        _rendered(settings_factory, "tensorboard"), "Deployment", f"{settings.app_name}-tensorboard"
    )
    assert container == next(c for c in fallback["spec"]["template"]["spec"]["containers"] if c["name"] == "s3-sync")
    assert f"s3://{settings.bucket}/runs/{settings.app_name}-train" in str(container["env"])
    assert pod["volumes"] == [{"name": "logs", "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}]
    # Kubeflow's controller labels the Tensorboard's pods app=<name>; a ReadWriteOnce claim needs one node.
    (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term == {
        "labelSelector": {"matchLabels": {"app": board["metadata"]["name"]}},
        "topologyKey": "kubernetes.io/hostname",
    }
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
