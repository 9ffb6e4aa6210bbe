"""model/model.py, its image and its TFJob: real training runs (one process, resumed, PS topology), the
exported signature, the Dockerfile's claims and the TFJob manifest against the CRD schema."""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from typing import Any

import boto3
import jsonschema
import moto
import numpy as np
import pytest
import yaml

from helpers import data, manifests
from helpers.local import ports

REPO = pathlib.Path(__file__).resolve().parent.parent
MODEL_PY = REPO / "model" / "model.py"
DOCKERFILE = REPO / "model" / "Dockerfile"
CRD = REPO / "controlplane" / "crds" / "kubeflow.org_tfjobs.yaml"
# Tiny but real: enough images and steps to learn something, little enough for 2 shared cores.
FAST_FLAGS = ["--train-subset", "1000", "--test-subset", "300", "--tf-batch-size", "32", "--log-every-steps", "10"]
RUN_TIMEOUT_S = 240


def _import_model() -> Any:
    spec = importlib.util.spec_from_file_location("mnist_model", MODEL_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_module() -> Any:
    """model/model.py imported as a module (it is a script, not a package member)."""
    return _import_model()


@pytest.fixture(scope="module")
def data_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small npz of learnable fake digits (class k = a bright bar at row 2k), so no test downloads MNIST."""
    rng = np.random.default_rng(0)

    def digits(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, size=count).astype(np.uint8)
        images = rng.integers(0, 60, size=(count, 28, 28)).astype(np.uint8)
        for index, label in enumerate(labels):
            images[index, 2 * label + 3 : 2 * label + 6, 4:24] = 255
        return images, labels

    (x_train, y_train), (x_test, y_test) = digits(2000), digits(500)
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    data.save_npz(data.Mnist(x_train, y_train, x_test, y_test), path)
    return str(path)


def _final(stdout: str) -> dict[str, str]:
    lines = [line for line in stdout.splitlines() if line.startswith("final: ")]
    assert len(lines) == 1, stdout[-2000:]
    return dict(pair.split("=", 1) for pair in lines[0].removeprefix("final: ").split())


def _run(flags: list[str], *, tf_config: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    done = subprocess.run(
        [sys.executable, str(MODEL_PY), *flags], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@contextlib.contextmanager
def _servers(flags: list[str], cluster: dict[str, list[str]], log_dir: pathlib.Path) -> Iterator[None]:
    """Start the ps and worker replicas as subprocesses; kill them (they never exit) on the way out."""
    processes = []
    try:
        for role in ("ps", "worker"):
            for index in range(len(cluster[role])):
                env = {
                    **os.environ,
                    "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": role, "index": index}}),
                }
                with (log_dir / f"{role}-{index}.log").open("w") as log:  # the child keeps its own copy
                    processes.append(
                        subprocess.Popen(
                            [sys.executable, str(MODEL_PY), *flags], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )  # fmt: skip
        yield
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _check_export(export: pathlib.Path) -> None:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(export))
    signature = loaded.signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert list(signature.structured_input_signature[1]) == ["x"]
    assert (spec.shape.as_list(), spec.dtype) == ([None, 28, 28], tf.float32)
    outputs = signature.structured_outputs
    assert (outputs["predictions"].shape.as_list(), outputs["predictions"].dtype) == ([None, 10], tf.float32)
    assert outputs["classes"].dtype.is_integer and outputs["classes"].shape.as_list() == [None]
    result = signature(x=tf.random.uniform([3, 28, 28]))
    np.testing.assert_allclose(result["predictions"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(result["classes"].numpy(), result["predictions"].numpy().argmax(axis=1))


def test_make_model_maps_images_to_class_probabilities(model_module: Any) -> None:
    model = model_module.make_model((28, 28), 10)
    assert model.input_shape == (None, 28, 28) and model.output_shape == (None, 10)
    probabilities = model(np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)).numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_shift_images_moves_each_image_by_whole_pixels_within_the_limit(model_module: Any) -> None:
    import tensorflow as tf

    tf.random.set_seed(0)
    images = np.zeros((1000, 28, 28), dtype=np.float32)
    images[:, 14, 14] = 1.0  # one bright pixel, far enough from the edges to survive any shift
    shifted = model_module.shift_images(tf.constant(images)).numpy()
    assert shifted.shape == images.shape and (shifted.sum(axis=(1, 2)) == 1.0).all()
    rows, columns = np.nonzero(shifted)[1:]
    limit = model_module.MAX_SHIFT_PX
    offsets = set(zip((rows - 14).tolist(), (columns - 14).tolist(), strict=True))
    assert offsets == {(dy, dx) for dy in range(-limit, limit + 1) for dx in range(-limit, limit + 1)}


@pytest.mark.parametrize("flag", ["--tf-train-steps", "--tf-batch-size", "--log-every-steps"])
def test_non_positive_counts_are_refused(model_module: Any, flag: str) -> None:
    with pytest.raises(SystemExit):
        model_module.parse_args([flag, "0"])


@pytest.mark.slow
def test_one_process_trains_exports_and_a_restart_resumes(data_uri: str, tmp_path: pathlib.Path) -> None:
    dirs = ["--tf-model-dir", str(tmp_path / "model"), "--tf-export-dir", str(tmp_path / "export")]
    first = _final(_run([*FAST_FLAGS, *dirs, "--data-uri", data_uri, "--tf-train-steps", "30"]).stdout)
    assert (first["steps"], first["resumed_from"]) == ("30", "0")
    assert float(first["test_accuracy"]) > 0.5  # the bars are easy; chance is 0.1
    export = pathlib.Path(first["export"])
    assert export.parent == tmp_path / "export" and export.name.isdigit()
    _check_export(export)
    metrics = json.loads((tmp_path / "export" / "metrics.json").read_text())
    assert metrics["version"] == int(export.name) and metrics["test_accuracy"] == float(first["test_accuracy"])
    assert list((tmp_path / "model" / "train").glob("events.out.tfevents.*"))
    assert list((tmp_path / "model" / "eval").glob("events.out.tfevents.*"))

    # Same model dir, twice the steps: the chief starts where the checkpoint left off.
    second_run = _run([*FAST_FLAGS, *dirs, "--data-uri", data_uri, "--tf-train-steps", "60"])
    second = _final(second_run.stdout)
    assert (second["steps"], second["resumed_from"]) == ("60", "30")
    assert "training steps 30..60 (resumed)" in second_run.stderr
    assert int(pathlib.Path(second["export"]).name) > int(export.name)

    # An evaluator scores the checkpoints it finds and stops at the last step.
    evaluator = {"cluster": {"chief": ["127.0.0.1:1"], "evaluator": ["127.0.0.1:2"]}, "task": {"type": "evaluator"}}
    evaluated = _run([*FAST_FLAGS, *dirs, "--data-uri", data_uri, "--tf-train-steps", "60"], tf_config=evaluator)
    assert re.search(r"evaluator-0 step 60: test accuracy [01]\.\d+", evaluated.stderr)
    assert len(list((tmp_path / "model" / "eval").glob("events.out.tfevents.*"))) == 3


@pytest.mark.slow
def test_s3_dirs_are_written_locally_and_synced(
    model_module: Any, data_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    flags = [*FAST_FLAGS, "--data-uri", data_uri, "--tf-train-steps", "10", "--tf-model-dir", "s3://mnist/run/model"]
    uploaded: list[str] = []
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # restored after the test
    with moto.mock_aws():
        boto3.setup_default_session()  # model.py's clients come from it, so they carry this recorder
        boto3.DEFAULT_SESSION.events.register(
            "before-parameter-build.s3.PutObject", lambda params, **_: uploaded.append(params["Key"])
        )
        client = boto3.client("s3")
        client.create_bucket(Bucket="mnist")
        assert model_module.main([*flags, "--tf-export-dir", "s3://mnist/run/export"]) == 0
        keys = {item["Key"] for item in client.list_objects_v2(Bucket="mnist")["Contents"]}
    final = _final(capsys.readouterr().out)
    version = final["export"].removeprefix("s3://mnist/run/export/")
    assert version.isdigit()
    assert {"run/model/checkpoint", "run/model/ckpt-10.index", "run/export/metrics.json"} <= keys
    assert f"run/export/{version}/saved_model.pb" in keys
    # The version's completion marker goes up after every file of the version it lists.
    in_version = [key for key in uploaded if key.startswith(f"run/export/{version}/")]
    assert in_version[-1] == f"run/export/{version}/_COMPLETE" and len(in_version) > 2
    assert any(key.startswith("run/model/eval/events.out.tfevents") for key in keys)


@pytest.mark.slow
def test_parameter_server_topology_trains_and_exports(data_uri: str, tmp_path: pathlib.Path) -> None:
    cluster = {
        "chief": [f"127.0.0.1:{ports.free_port()}"],
        "ps": [f"127.0.0.1:{ports.free_port()}"],
        "worker": [f"127.0.0.1:{ports.free_port()}", f"127.0.0.1:{ports.free_port()}"],
    }
    flags = [
        *FAST_FLAGS, "--data-uri", data_uri, "--tf-train-steps", "40", "--data-dir", str(tmp_path / "raw"),
        "--tf-model-dir", str(tmp_path / "model"), "--tf-export-dir", str(tmp_path / "export"),
    ]  # fmt: skip
    with _servers(flags, cluster, tmp_path):
        chief = _run(flags, tf_config={"cluster": cluster, "task": {"type": "chief", "index": 0}})
    (tmp_path / "chief.log").write_text(chief.stderr)  # kept beside the other replicas' logs for a failing run
    final = _final(chief.stdout)
    assert final["steps"] == "40" and float(final["test_accuracy"]) > 0.5
    assert re.search(r"strategy ParameterServerStrategy\w*, cluster \{'chief': 1, 'ps': 1, 'worker': 2\}", chief.stderr)
    assert "training steps 0..40 (new), variables on /job:ps/" in chief.stderr
    assert "serving as ps 0" in (tmp_path / "ps-0.log").read_text()
    _check_export(pathlib.Path(final["export"]))
    # Each worker read its own raw copy of the training data instead of receiving it from the chief.
    assert "serving as worker 1" in (tmp_path / "worker-1.log").read_text()
    assert len(list((tmp_path / "raw").glob("train-1000-*.images"))) == 1


# ## The training image


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _helpers_modules_needed(path: pathlib.Path, seen: set[pathlib.Path]) -> set[pathlib.Path]:
    """The helpers source files `path` imports, transitively, with their packages' __init__.py."""
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "helpers":
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.split(".")[0] == "helpers"]
        for name in names:
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                package = REPO.joinpath(*parts[:depth])
                for candidate in (package / "__init__.py", package.with_suffix(".py")):
                    if candidate.is_file() and candidate not in seen:
                        seen.add(candidate)
                        _helpers_modules_needed(candidate, seen)
    return seen


def test_dockerfile_is_pinned_non_root_and_copies_what_model_py_imports() -> None:
    instructions = _dockerfile_instructions()
    (base,) = [argument for keyword, argument in instructions if keyword == "FROM"]
    # Docker's official images from their public ECR mirror: a workshop behind one NAT hits no Docker Hub limit.
    assert re.fullmatch(
        r"public\.ecr\.aws/docker/library/(python:\d+\.\d+\.\d+-slim\S*|tensorflow/tensorflow:\d+\.\d+\.\d+\S*)(@sha256:\w+)?",
        base,
    )
    users = [argument for keyword, argument in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert not [keyword for keyword, _ in instructions if keyword == "ENTRYPOINT"]
    copied: dict[str, str] = {}
    for keyword, argument in instructions:
        if keyword == "COPY":
            *sources, target = argument.split()
            for source in sources:
                assert (REPO / source).is_file(), source
                copied[source] = target.rstrip("/") + ("/" + pathlib.Path(source).name if target.endswith("/") else "")
    assert copied["model/model.py"] == "/app/model.py"
    for module in _helpers_modules_needed(MODEL_PY, set()):
        relative = module.relative_to(REPO).as_posix()
        assert copied.get(relative) == f"/app/{relative}", f"{relative} is imported but not copied to /app"


def test_image_requirements_match_the_project_pins() -> None:
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = [line for line in (REPO / "model" / "requirements.txt").read_text().splitlines() if "==" in line]
    assert sorted(wanted) == sorted(
        pin for pin in pins if pin.split("==")[0] in {"tensorflow-cpu", "keras", "boto3", "numpy"}
    )


# ## The TFJob


VALUES = {
    "job_name": "mnist-train", "namespace": "kubeflow-user", "image": "123.dkr.ecr.us-west-2.amazonaws.com/mnist:abc",
    "service_account": "default-editor", "num_ps": 1, "num_workers": 2, "region": "us-west-2",
    "model_dir": "s3://bucket/mnist/model", "export_dir": "s3://bucket/mnist/export", "data_uri": "",
    "train_steps": 2500, "batch_size": 128, "learning_rate": 0.003,
}  # fmt: skip


@pytest.fixture(scope="module")
def tfjob() -> dict[str, Any]:
    """manifests/tfjob.yaml rendered with typical values."""
    (resource,) = manifests.render("tfjob", VALUES, app_name="mnist")
    return resource


def test_tfjob_matches_the_crd_schema(tfjob: dict[str, Any]) -> None:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    jsonschema.validate(tfjob, version["schema"]["openAPIV3Schema"])
    assert (tfjob["apiVersion"], tfjob["kind"]) == ("kubeflow.org/v1", "TFJob")


def test_tfjob_replicas_follow_the_operator_conventions(tfjob: dict[str, Any], model_module: Any) -> None:
    specs = tfjob["spec"]["tfReplicaSpecs"]
    assert {key: spec["replicas"] for key, spec in specs.items()} == {"Chief": 1, "PS": 1, "Worker": 2}
    for spec in specs.values():
        assert spec["restartPolicy"] == "OnFailure" and "restartPolicy" not in spec["template"]["spec"]
        pod = spec["template"]
        assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
        assert pod["spec"]["serviceAccountName"] == "default-editor" and pod["spec"]["securityContext"]["runAsNonRoot"]
        (container,) = pod["spec"]["containers"]
        assert container["name"] == "tensorflow" and container["image"] == VALUES["image"]
        assert container["command"] == ["python", "/app/model.py"]
        assert container["ports"] == [{"name": "tfjob-port", "containerPort": 2222}]
        assert {"name": "GRPC_FAIL_FAST", "value": "use_caller"} in container["env"]
        assert container["envFrom"] == [{"secretRef": {"name": "aws-secret"}}]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert set(container["resources"]) == {"requests", "limits"}
        # The args are flags model.py really accepts, carrying the rendered values.
        args = model_module.parse_args(container["args"])
        assert (args.tf_model_dir, args.tf_train_steps, args.tf_learning_rate) == (
            "s3://bucket/mnist/model",
            2500,
            0.003,
        )
    run_policy = tfjob["spec"]["runPolicy"]
    assert run_policy["cleanPodPolicy"] == "Running"
    assert {"backoffLimit", "ttlSecondsAfterFinished", "activeDeadlineSeconds"} <= set(run_policy)
