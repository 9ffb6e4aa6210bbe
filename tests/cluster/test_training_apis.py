"""`helpers.cluster.training_apis` against the API server stand-in: discovery, the choice of API, each Trainer's fields.

It stays on the stand-in: its cases are clusters without Trainer v2, without the training operator or without
the runtime, and a Trainer v2.1 OpenAPI document, while the control plane serves every CRD (Trainer v2.3) to
every test. What the real server publishes (both APIs, the v2.3 fields, an unreadable cluster-scoped runtime):
tests/controlplane/test_trainjob.py.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
import yaml

from helpers import errors, settings as settings_module, workloads
from helpers.cluster import training_apis
from tests import validation
from tests.manifests import cases

from . import fake_api as fake_api_module

TRAINER = "apis/trainer.kubeflow.org/v1alpha1"
TRAINER_RESOURCES = ["trainjobs", "trainingruntimes", "clustertrainingruntimes"]
RUNTIME = workloads.training_runtime(settings=settings_module.Settings(backend="kubeflow"))
# TrainJobs are writable from Kubeflow 1.11 on, and ClusterTrainingRuntimes are readable through Trainer's own
# binding for system:authenticated, which kubeflow-edit (tests/rbac.py) does not hold.
TRAINER_RBAC = pytest.mark.rbac_exempt(
    reason="TrainJob exists from Kubeflow 1.11; runtimes are read via Trainer's system:authenticated binding"
)


def install_trainer(fake_api: fake_api_module.FakeApiServer, *, runtime: bool = True) -> None:
    """Act as a cluster with Kubeflow Trainer v2 (and, when `runtime`, the tensorflow-ps runtime installed)."""
    fake_api.serve("trainer.kubeflow.org", "v1alpha1", TRAINER_RESOURCES)
    if runtime:
        fake_api.add(TRAINER, "clustertrainingruntimes", RUNTIME)


@pytest.mark.parametrize(
    ("trainer", "tfjob", "runtime", "served"),
    [
        (True, True, True, training_apis.Served(tfjob=True, trainjob=True, runtime={})),
        (True, False, False, training_apis.Served(tfjob=False, trainjob=True, runtime=None)),
        (False, True, False, training_apis.Served(tfjob=True, trainjob=False, runtime=None)),
        (False, False, False, training_apis.Served(tfjob=False, trainjob=False, runtime=None)),
    ],
)
@TRAINER_RBAC
def test_discovery_reads_resources_not_just_groups(
    api: Any,
    fake_api: fake_api_module.FakeApiServer,
    cluster_settings: settings_module.Settings,
    trainer: bool,
    tfjob: bool,
    runtime: bool,
    served: training_apis.Served,
) -> None:
    if trainer:
        install_trainer(fake_api, runtime=runtime)
    if not tfjob:  # kubeflow.org/v1 stays served (notebooks, profiles) without the training operator
        fake_api.resources["kubeflow.org/v1"] = ["notebooks", "profiles"]
    found = training_apis.discover(api=api, settings=cluster_settings, runtime_name="tensorflow-ps")
    assert (found.tfjob, found.trainjob, found.runtime is not None) == (served.tfjob, served.trainjob, runtime)
    if runtime:
        assert found.runtime is not None and found.runtime["metadata"]["name"] == "tensorflow-ps"
        assert ("GET", f"/{TRAINER}/clustertrainingruntimes/tensorflow-ps") in {
            (call["method"], call["path"]) for call in fake_api.calls()
        }


BOTH = training_apis.Served(tfjob=True, trainjob=True, runtime={"kind": "ClusterTrainingRuntime"})
NO_RUNTIME = training_apis.Served(tfjob=True, trainjob=True, runtime=None)
ONLY_TRAINER = training_apis.Served(tfjob=False, trainjob=True, runtime={"kind": "ClusterTrainingRuntime"})
TRAINER_NO_RUNTIME = training_apis.Served(tfjob=False, trainjob=True, runtime=None)
ONLY_TFJOB = training_apis.Served(tfjob=True, trainjob=False, runtime=None)
NEITHER = training_apis.Served(tfjob=False, trainjob=False, runtime=None)


@pytest.mark.parametrize(
    ("wanted", "served", "chosen"),
    [
        ("auto", BOTH, "trainjob"),
        ("auto", NO_RUNTIME, "tfjob"),
        ("auto", ONLY_TRAINER, "trainjob"),
        ("auto", ONLY_TFJOB, "tfjob"),
        ("tfjob", BOTH, "tfjob"),
        ("trainjob", BOTH, "trainjob"),
    ],
)
def test_auto_prefers_trainjob_when_its_runtime_is_installed(
    wanted: str, served: training_apis.Served, chosen: str
) -> None:
    assert training_apis.choose(wanted, served, runtime_name="tensorflow-ps") == chosen


@pytest.mark.parametrize(
    ("wanted", "served", "says"),
    [
        (
            "trainjob",
            NO_RUNTIME,
            "an administrator installs it once: `kubectl apply -f manifests/tf-ps-runtime\\.yaml`",
        ),
        ("auto", TRAINER_NO_RUNTIME, "kubectl apply -f manifests/tf-ps-runtime.yaml"),
        (
            "trainjob",
            ONLY_TFJOB,
            r"TrainJob \(trainer.kubeflow.org/v1alpha1\) is not served: install Kubeflow Trainer v2",
        ),
        ("tfjob", ONLY_TRAINER, "install the training operator v1.9.*use training_api=trainjob"),
        ("auto", NEITHER, "serves neither TrainJob .* nor TFJob .*: install Kubeflow Trainer v2"),
    ],
)
def test_a_missing_api_or_runtime_says_what_to_install(wanted: str, served: training_apis.Served, says: str) -> None:
    with pytest.raises(errors.ClusterError, match=says):
        training_apis.choose(wanted, served, runtime_name="tensorflow-ps")


# ## Trainer releases: v2.1 (Kubeflow 1.11) has podTemplateOverrides and no activeDeadlineSeconds

CRDS = pathlib.Path(__file__).resolve().parents[1] / "crds"


def openapi_document(release: str) -> dict[str, Any]:
    """What the API server publishes at /openapi/v3/apis/trainer.kubeflow.org/v1alpha1 with that Trainer's CRDs."""
    folder = CRDS / f"trainer-{release}" if release != "v2.3.0" else validation.SCHEMAS_DIR
    crd = yaml.safe_load((folder / "trainer.kubeflow.org_trainjobs.yaml").read_text())
    schema = dict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    schema["x-kubernetes-group-version-kind"] = [
        {"group": "trainer.kubeflow.org", "version": "v1alpha1", "kind": "TrainJob"}
    ]
    return {"openapi": "3.0.0", "components": {"schemas": {"org.kubeflow.trainer.v1alpha1.TrainJob": schema}}}


def test_the_spec_fields_come_from_the_openapi_document(
    api: Any, fake_api: fake_api_module.FakeApiServer, cluster_settings: settings_module.Settings
) -> None:
    assert training_apis.trainjob_spec_fields(api=api, settings=cluster_settings) is None, "not published: unknown"
    fake_api.openapi["trainer.kubeflow.org/v1alpha1"] = openapi_document("v2.1.0")
    fields = training_apis.trainjob_spec_fields(api=api, settings=cluster_settings)
    assert fields is not None and "podTemplateOverrides" in fields and "runtimePatches" not in fields


def _rendered_trainjob() -> dict[str, Any]:
    (job,) = cases.by_id("trainjob-default").resources()
    return job


@pytest.mark.parametrize("release", ["v2.1.0", "v2.2.0", "v2.3.0"])
def test_the_trainjob_is_written_in_each_releases_fields(release: str) -> None:
    schema = openapi_document(release)["components"]["schemas"]["org.kubeflow.trainer.v1alpha1.TrainJob"]
    job = _rendered_trainjob()
    adapted = training_apis.for_trainer(job, set(schema["properties"]["spec"]["properties"]))
    folder = CRDS / f"trainer-{release}" if release != "v2.3.0" else validation.SCHEMAS_DIR
    assert validation.validate(adapted, schemas_dir=folder).startswith("trainer.kubeflow.org_trainjobs.yaml")
    if release == "v2.1.0":
        assert "runtimePatches" not in adapted["spec"] and "activeDeadlineSeconds" not in adapted["spec"]
        assert adapted["spec"]["podTemplateOverrides"] == [
            {
                "targetJobs": [{"name": "worker"}, {"name": "chief"}, {"name": "ps"}],
                "spec": {"serviceAccountName": "mnist-workloads"},
            }
        ]
    else:
        assert adapted == job
    assert job == _rendered_trainjob(), "the rendered job is not changed"
    assert training_apis.for_trainer(job, None) == job
