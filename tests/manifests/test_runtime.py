"""The Trainer v2 runtime (manifests/tf-ps-runtime.yaml): valid, shaped as Trainer v2.3 and JobSet expect, polite.

It is an administrator's file, applied as it is (`kubectl apply -f`), so it is read without rendering.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from helpers import manifests, settings as settings_module, workloads
from helpers.local import trainjob as local_trainjob
from tests import validation
from tests.manifests import cases

RUNTIME = workloads.training_runtime(settings=settings_module.Settings())
JOBS: list[dict[str, Any]] = RUNTIME["spec"]["template"]["spec"]["replicatedJobs"]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in container["env"]}


def test_it_matches_the_trainer_crd_and_needs_no_rendering() -> None:
    assert validation.validate(RUNTIME) == (
        "trainer.kubeflow.org_clustertrainingruntimes.yaml trainer.kubeflow.org/v1alpha1"
    )
    assert "${" not in manifests.template_path(workloads.RUNTIME_TEMPLATE).read_text()
    assert "namespace" not in RUNTIME["metadata"], "cluster-scoped"


def test_the_trainjob_names_it() -> None:
    (trainjob,) = cases.by_id("trainjob-default").resources()
    assert trainjob["spec"]["runtimeRef"] == {
        "name": RUNTIME["metadata"]["name"],
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
    }
    assert set(local_trainjob.replica_specs(trainjob, RUNTIME)) == {"Chief", "PS", "Worker"}


def test_every_job_is_a_trainer_step_with_one_replica_and_a_node_container() -> None:
    # Trainer's webhook: a trainer step has replicas 1 and a container named `node`; the workers come
    # first because TrainJob's numNodes sets the first trainer step's pod count.
    assert [job["name"] for job in JOBS] == ["worker", "chief", "ps"]
    for job in JOBS:
        assert job["replicas"] == 1
        assert job["template"]["metadata"]["labels"] == {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
        assert job["template"]["spec"]["completionMode"] == "Indexed"
        assert [c["name"] for c in job["template"]["spec"]["template"]["spec"]["containers"]] == ["node"]
    assert "mlPolicy" not in RUNTIME["spec"], "an mlPolicy would give the chief numNodes pods"


def test_the_chief_alone_decides_success() -> None:
    assert RUNTIME["spec"]["template"]["spec"]["successPolicy"] == {
        "operator": "All",
        "targetReplicatedJobs": ["chief"],
    }


@pytest.mark.parametrize("job", JOBS, ids=[job["name"] for job in JOBS])
def test_each_pod_gets_the_names_tf_config_is_built_from(job: dict[str, Any]) -> None:
    (container,) = job["template"]["spec"]["template"]["spec"]["containers"]
    env = _env(container)
    paths = {name: item["valueFrom"]["fieldRef"]["fieldPath"] for name, item in env.items() if "valueFrom" in item}
    assert paths == {
        "JOBSET_NAME": "metadata.labels['jobset.sigs.k8s.io/jobset-name']",
        "JOBSET_REPLICATED_JOB": "metadata.labels['jobset.sigs.k8s.io/replicatedjob-name']",
        "POD_NAMESPACE": "metadata.namespace",
    }
    ps_count = next(j for j in JOBS if j["name"] == "ps")["template"]["spec"]["parallelism"]
    assert env["TF_NUM_PS"]["value"] == str(ps_count)
    assert env["TF_PORT"]["value"] == str(container["ports"][0]["containerPort"])


@pytest.mark.parametrize("job", JOBS, ids=[job["name"] for job in JOBS])
def test_pods_are_well_mannered(job: dict[str, Any]) -> None:
    pod = job["template"]["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert pod["spec"]["restartPolicy"] == "OnFailure" and pod["spec"]["securityContext"]["runAsNonRoot"]
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["envFrom"] == [{"secretRef": {"name": "aws-secret", "optional": True}}], "absent with IRSA"


# Older Trainer releases' CRDs (tests/crds/README.md): v2.2.0 (Kubeflow 26.03) and v2.1.0 (Kubeflow 1.11).
CRDS = pathlib.Path(__file__).resolve().parents[1] / "crds"


def test_both_manifests_are_valid_on_trainer_v2_2_too() -> None:
    (trainjob,) = cases.by_id("trainjob-default").resources()
    (custom,) = cases.by_id("trainjob-custom").resources()
    for resource in (RUNTIME, trainjob, custom):
        assert validation.validate(resource, schemas_dir=CRDS / "trainer-v2.2.0").startswith("trainer.kubeflow.org_")


def test_the_runtime_is_valid_on_trainer_v2_1() -> None:
    # The TrainJob is written in v2.1's fields when it is submitted (helpers.cluster.training_apis.for_trainer).
    assert validation.validate(RUNTIME, schemas_dir=CRDS / "trainer-v2.1.0").startswith("trainer.kubeflow.org_")
