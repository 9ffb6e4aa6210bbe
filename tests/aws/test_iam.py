"""Tests of helpers.aws.iam: the pods' policy grants exactly what the pods call and the notebook's policy what
01-06 and clean-up call (both checked against the boto3 calls the code makes under moto), on the bucket and
repositories only; the pods' policy is kept current idempotently."""

from __future__ import annotations

import pathlib
import tarfile

import boto3
import boto3.session
import numpy as np
import pytest
from moto.core import authorization

import webui.data
from helpers import data, errors, rollout, workloads
from helpers.aws import ecr, iam, partition, s3, session as session_module, setup
from helpers.backends import kubeflow

from . import conftest, iam_calls

REPOSITORY_ARN = f"arn:aws:ecr:us-west-2:{conftest.ACCOUNT}:repository/kubeflow-mnist/train"


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _statements(document: dict) -> list[dict]:
    return [
        {**statement, "Action": _listed(statement["Action"]), "Resource": _listed(statement["Resource"])}
        for statement in document["Statement"]
    ]


@pytest.mark.parametrize(("region", "partition_name"), [("us-west-2", "aws"), ("cn-northwest-1", "aws-cn")])
def test_policy_grants_nothing_beyond_the_bucket_and_repository(region: str, partition_name: str) -> None:
    train = partition.repository_arn(conftest.ACCOUNT, region, "kubeflow-mnist/train")
    webui = partition.repository_arn(conftest.ACCOUNT, region, "kubeflow-mnist/webui")
    document = iam.policy_document(partition=partition_name, bucket="mnist-data", repository_arns=[train, webui])
    assert document["Version"] == "2012-10-17"
    grants = {
        (action, resource)
        for statement in _statements(document)
        for action in statement["Action"]
        for resource in statement["Resource"]
    }
    push = (
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    )
    bucket = f"arn:{partition_name}:s3:::mnist-data"
    assert grants == {
        ("s3:ListBucket", bucket),
        ("s3:GetObject", f"{bucket}/*"),
        ("s3:PutObject", f"{bucket}/*"),
        ("ecr:GetAuthorizationToken", "*"),
    } | {(action, repository) for action in push for repository in (train, webui)}
    assert all(statement["Effect"] == "Allow" for statement in document["Statement"])
    assert all("*" not in action for action, _ in grants)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"partition": "aws", "bucket": 'x", "Resource": "*', "repository_arns": [REPOSITORY_ARN]}, "bucket"),
        ({"partition": "aws", "bucket": "ab", "repository_arns": [REPOSITORY_ARN]}, "bucket"),
        ({"partition": "aws", "bucket": "mnist-data", "repository_arns": ["*"]}, "repository_arn"),
        ({"partition": "aws", "bucket": "mnist-data", "repository_arns": [REPOSITORY_ARN + "\n"]}, "repository_arn"),
        ({"partition": "aws:*", "bucket": "mnist-data", "repository_arns": [REPOSITORY_ARN]}, "partition"),
    ],
)
def test_policy_document_rejects_values_that_would_widen_it(arguments: dict, parameter: str) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        iam.policy_document(**arguments)
    assert caught.value.parameter == parameter


def _document(bucket: str) -> dict:
    return iam.policy_document(partition="aws", bucket=bucket, repository_arns=[REPOSITORY_ARN])


def _versions(session: boto3.session.Session, policy_arn: str) -> list[dict]:
    return session.client("iam").list_policy_versions(PolicyArn=policy_arn)["Versions"]


def test_ensure_policy_creates_keeps_and_updates(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    created = iam.ensure_policy(session=session, name="mnist-access", document=_document("bucket-1"))
    assert created == iam.PolicyInfo(arn=f"arn:aws:iam::{conftest.ACCOUNT}:policy/mnist-access", status="created")
    assert iam.ensure_policy(session=session, name="mnist-access", document=_document("bucket-1")).status == "exists"
    assert iam.ensure_policy(session=session, name="mnist-access", document=_document("bucket-2")).status == "updated"
    client = session.client("iam")
    default = client.get_policy(PolicyArn=created.arn)["Policy"]["DefaultVersionId"]
    current = client.get_policy_version(PolicyArn=created.arn, VersionId=default)["PolicyVersion"]["Document"]
    assert current == _document("bucket-2")
    assert len(_versions(session, created.arn)) == 2


def test_update_keeps_within_five_versions_by_deleting_the_oldest(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    policy_arn = iam.ensure_policy(session=session, name="mnist-access", document=_document("bucket-1")).arn
    for index in range(2, 8):
        assert iam.ensure_policy(
            session=session, name="mnist-access", document=_document(f"bucket-{index}")
        ).status == ("updated")
    versions = _versions(session, policy_arn)
    assert len(versions) == iam.MAX_POLICY_VERSIONS
    # v1 and v2 were the oldest non-default versions when room was needed.
    assert sorted(v["VersionId"] for v in versions) == ["v3", "v4", "v5", "v6", "v7"]
    assert [v["VersionId"] for v in versions if v["IsDefaultVersion"]] == ["v7"]


def test_policy_arn_is_partition_aware(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="cn-northwest-1")
    document = iam.policy_document(
        partition="aws-cn",
        bucket="mnist-data",
        repository_arns=[partition.repository_arn(conftest.ACCOUNT, "cn-northwest-1", "mnist")],
    )
    info = iam.ensure_policy(session=session, name="mnist-access", document=document)
    assert info.arn == f"arn:aws-cn:iam::{conftest.ACCOUNT}:policy/mnist-access"
    assert iam.ensure_policy(session=session, name="mnist-access", document=document).status == "exists"


def test_attach_role_policy_is_idempotent(mocked_aws: None) -> None:
    session = boto3.session.Session(region_name="us-west-2")
    session.client("iam").create_role(RoleName="mnist-irsa", AssumeRolePolicyDocument="{}")
    policy_arn = iam.ensure_policy(session=session, name="mnist-access", document=_document("bucket-1")).arn
    assert iam.attach_role_policy(session=session, role_name="mnist-irsa", policy_arn=policy_arn) == "attached"
    assert iam.attach_role_policy(session=session, role_name="mnist-irsa", policy_arn=policy_arn) == "exists"
    attached = session.client("iam").list_attached_role_policies(RoleName="mnist-irsa")["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [policy_arn]


def test_attach_to_a_missing_role_is_an_aws_error(mocked_aws: None) -> None:
    with pytest.raises(errors.AwsError) as caught:
        iam.attach_role_policy(
            session=boto3.session.Session(region_name="us-west-2"),
            role_name="missing",
            policy_arn=f"arn:aws:iam::{conftest.ACCOUNT}:policy/x",
        )
    assert caught.value.code == "NoSuchEntity"


@pytest.mark.parametrize(
    ("role_arn", "name"),
    [
        (f"arn:aws:iam::{conftest.ACCOUNT}:role/mnist-irsa", "mnist-irsa"),
        (f"arn:aws-cn:iam::{conftest.ACCOUNT}:role/service/eks/mnist-irsa", "mnist-irsa"),
    ],
)
def test_role_name_of(role_arn: str, name: str) -> None:
    assert iam.role_name_of(role_arn) == name


def test_role_name_of_rejects_other_arns() -> None:
    with pytest.raises(errors.ConfigError, match="role_arn"):
        iam.role_name_of(f"arn:aws:iam::{conftest.ACCOUNT}:user/someone")


def test_policy_really_limits_a_user_to_the_bucket(make_restricted_session, tmp_path: pathlib.Path) -> None:
    admin = boto3.session.Session(region_name="us-west-2")
    for bucket in ("mnist-data", "someone-elses"):
        conftest.create_bucket(admin, bucket)
    restricted = make_restricted_session(_document("mnist-data"), "us-west-2")
    source = tmp_path / "a.txt"
    source.write_text("hello")
    with authorization.enable_iam_authentication():
        client = restricted.client("s3")
        s3.upload_file(source, "s3://mnist-data/a.txt", client=client)
        assert s3.download_tree("s3://mnist-data/", tmp_path / "copy", client=client) == 1
        with pytest.raises(errors.AwsError) as caught:
            s3.upload_file(source, "s3://someone-elses/a.txt", client=client)
    assert caught.value.permission == "s3:PutObject"
    assert (tmp_path / "copy" / "a.txt").read_text() == "hello"


# ## Both policies against the calls the code makes

BUCKET = "mnist-data"
REGION = "us-west-2"
REPOSITORIES = ("kubeflow-mnist/train", "kubeflow-mnist/webui")
ROLE_ARN = f"arn:aws:iam::{conftest.ACCOUNT}:role/mnist-irsa"
# The registry API calls of an image push, as ECR authorizes them ("Pushing an image" in ECR's user guide).
PUSH = ("BatchCheckLayerAvailability", "BatchGetImage", "InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload")
# What the pods call outside boto3, as the API operations they are authorized as.
POD_CALLS_OUTSIDE_BOTO3 = [
    # aws-cli `aws s3 sync s3://<bucket>/<prefix> <dir>` in the serving and TensorBoard sidecars: list, GET new objects.
    iam_calls.Call("s3", "ListObjectsV2", {"Bucket": BUCKET, "Prefix": "models/mnist/"}),
    iam_calls.Call("s3", "GetObject", {"Bucket": BUCKET, "Key": "models/mnist/7/saved_model.pb"}),
    iam_calls.Call("s3", "ListObjectsV2", {"Bucket": BUCKET, "Prefix": "runs/mnist-train/1/"}),
    iam_calls.Call("s3", "GetObject", {"Bucket": BUCKET, "Key": "runs/mnist-train/1/events.out.tfevents.1"}),
    # kaniko in the build Job: the context tarball (--context=s3://...), then the push to ECR.
    iam_calls.Call("s3", "GetObject", {"Bucket": BUCKET, "Key": "build-contexts/abc123.tar.gz"}),
    iam_calls.Call("ecr", "GetAuthorizationToken", {}),
    *(
        iam_calls.Call("ecr", operation, {"repositoryName": repository})
        for repository in REPOSITORIES
        for operation in (*PUSH, "PutImage")
    ),
]


# Granted although the recorded calls do not use it: S3 lists an unversioned bucket's objects with VersionId
# "null", and whether DeleteObjects is then authorized as s3:DeleteObject or s3:DeleteObjectVersion is not
# documented, so clean-up gets both, on the series' bucket only.
NOTEBOOK_GRANTS_KEPT_UNUSED = {("CleanUpAllDeletesEveryObjectVersion", "s3:DeleteObject")}


def _pods_policy() -> dict:
    arns = [partition.repository_arn(conftest.ACCOUNT, REGION, name) for name in REPOSITORIES]
    return iam.policy_document(partition="aws", bucket=BUCKET, repository_arns=arns)


def _notebook_policy(make_settings) -> dict:
    settings = make_settings(
        bucket=BUCKET, role_arn=ROLE_ARN, repository=REPOSITORIES[0], ui_repository=REPOSITORIES[1]
    )
    return setup.notebook_policy(settings=settings, account=conftest.ACCOUNT)


def _requests(calls: list[iam_calls.Call]) -> list[iam_calls.Request]:
    return [
        request
        for call in calls
        for request in iam_calls.requests(call, partition="aws", region=REGION, account=conftest.ACCOUNT)
    ]


def _write_mnist(path: pathlib.Path) -> None:
    images, labels = np.zeros((4, 28, 28), np.uint8), np.arange(4, dtype=np.uint8)
    np.savez(path, x_train=images, y_train=labels, x_test=images, y_test=labels)


@pytest.fixture
def pod_calls(mocked_aws: None, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> list[iam_calls.Call]:
    """The boto3 calls of the pods' code paths (model.py's data, checkpoints and export; the web UI's test set)."""
    admin = boto3.session.Session(region_name=REGION).client("s3")
    conftest.create_bucket(boto3.session.Session(region_name=REGION), BUCKET)
    _write_mnist(tmp_path / "mnist.npz")
    admin.upload_file(str(tmp_path / "mnist.npz"), BUCKET, "data/mnist.npz")
    admin.put_object(Bucket=BUCKET, Key="runs/mnist-train/1/checkpoint", Body=b"a checkpoint to resume from")
    recorder = iam_calls.Recorder()
    # model.py, helpers.data and webui.data make their clients with boto3.client("s3"): the default session.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", recorder.attach(boto3.session.Session(region_name=REGION)))

    data.load(data_uri=f"s3://{BUCKET}/data/mnist.npz")  # every replica
    client = boto3.client("s3")  # model.sync: resume, then checkpoints and the export
    s3.download_tree(f"s3://{BUCKET}/runs/mnist-train/1", tmp_path / "model", client=client)
    s3.upload_tree(tmp_path / "model", f"s3://{BUCKET}/runs/mnist-train/1", client=client)
    version = tmp_path / "export" / "7"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"graph")
    s3.write_marker(version)
    (tmp_path / "export" / "metrics.json").write_text("{}")
    s3.upload_tree(tmp_path / "export", f"s3://{BUCKET}/models/mnist", client=client)
    webui.data.read_bytes(f"s3://{BUCKET}/data/mnist.npz")  # the web UI's test set
    return recorder.calls


@pytest.fixture
def notebook_calls(
    mocked_aws: None, make_settings, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> list[iam_calls.Call]:
    """The boto3 calls of 01-06 and `make clean-all` on the kubeflow backend, the cluster left out."""
    admin = boto3.session.Session(region_name=REGION)
    admin.client("iam").create_role(RoleName="mnist-irsa", AssumeRolePolicyDocument="{}")
    recorder = iam_calls.Recorder()
    make_session = session_module.make_session
    monkeypatch.setattr(
        session_module, "make_session", lambda *, settings: recorder.attach(make_session(settings=settings))
    )
    settings = make_settings(
        backend="kubeflow", bucket=BUCKET, role_arn=ROLE_ARN, repository=REPOSITORIES[0], ui_repository=REPOSITORIES[1]
    )
    backend = kubeflow.KubeflowBackend(settings=settings)
    session = backend.session

    backend.check_identity()  # 01
    for _ in range(2):  # 01, and its re-run
        setup.setup(settings=settings)
    for index in range(iam.MAX_POLICY_VERSIONS + 1):  # the pods' policy changing, up to IAM's 5 versions
        document = iam.policy_document(
            partition="aws", bucket=f"{BUCKET}-{index}", repository_arns=[_pods_policy()["Statement"][3]["Resource"][0]]
        )
        iam.ensure_policy(session=session, name=setup.policy_name(settings), document=document)
    context = tmp_path / "abc123.tar.gz"  # 02: is the image built? if not, its context for the build Job
    with tarfile.open(context, "w:gz"):
        pass
    for repository in REPOSITORIES:
        ecr.image_exists(session=session, repository=repository, tag="abc123")
    backend.upload(context, f"s3://{BUCKET}/build-contexts/{context.name}")
    _write_mnist(tmp_path / "mnist.npz")  # 03 stages the data set
    backend.upload(tmp_path / "mnist.npz", workloads.data_uri(settings))
    # What 03's TFJob leaves (written by the pods, not recorded here): a complete version.
    version = tmp_path / "export" / "7"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"graph")
    s3.write_marker(version)
    s3.upload_tree(tmp_path / "export", workloads.export_uri(settings), client=admin.client("s3"))
    run = workloads.run_uri(settings, "mnist-train")
    admin.client("s3").put_object(Bucket=BUCKET, Key=f"{s3.parse_uri(run)[1]}/1/metrics.json", Body=b"{}")
    backend.fetch(run)  # 04 plots the run's metrics
    rollout.publish_copy(backend=backend, export_uri=workloads.export_uri(settings))  # 05
    s3.delete_bucket(session=session, bucket=BUCKET)  # make clean-all
    for repository in REPOSITORIES:
        ecr.delete_repository(session=session, name=repository)
    return recorder.calls


def test_the_table_of_pod_calls_outside_boto3_names_real_operations() -> None:
    for call in POD_CALLS_OUTSIDE_BOTO3:
        assert iam_calls.operation_exists(call.service, call.operation), call


def test_the_pods_policy_grants_exactly_what_the_pods_call(pod_calls: list[iam_calls.Call]) -> None:
    made = _requests([*pod_calls, *POD_CALLS_OUTSIDE_BOTO3])
    assert {call.operation for call in pod_calls} >= {"GetObject", "ListObjectsV2", "PutObject"}
    policy = _pods_policy()
    refused = [request for request in made if not iam_calls.allows(policy, request)]
    assert refused == [], "the pods' policy refuses calls the pods make"
    assert iam_calls.unused_grants(policy, made) == [], "the pods' policy grants what no pod calls"


def test_the_notebook_policy_grants_what_01_to_06_and_clean_up_call(
    notebook_calls: list[iam_calls.Call], make_settings
) -> None:
    made = _requests(notebook_calls)
    policy = _notebook_policy(make_settings)
    refused = [request for request in made if not iam_calls.allows(policy, request)]
    assert refused == [], "the notebook policy refuses calls the notebooks make"
    unused = iam_calls.unused_grants(policy, made)
    assert [grant for grant in unused if grant[:2] not in NOTEBOOK_GRANTS_KEPT_UNUSED] == [], (
        "the notebook policy grants what no notebook calls"
    )
    # The pods' policy was not widened for the notebook: what only the notebook calls, the pods may not.
    pods = _pods_policy()
    notebook_only = {request.action for request in made if not iam_calls.allows(pods, request)}
    assert {
        "s3:CreateBucket",
        "s3:ListAllMyBuckets",
        "s3:DeleteObjectVersion",
        "s3:DeleteBucket",
        "ecr:DescribeRepositories",
        "ecr:DescribeImages",
        "ecr:CreateRepository",
        "iam:CreatePolicy",
        "iam:AttachRolePolicy",
    } <= notebook_only


def test_the_notebook_policy_attaches_only_the_pods_policy(make_settings) -> None:
    policy = _notebook_policy(make_settings)
    pods_policy = f"arn:aws:iam::{conftest.ACCOUNT}:policy/mnist-{BUCKET}-access"
    attach = iam_calls.Request("iam:AttachRolePolicy", ROLE_ARN, (("iam:PolicyARN", pods_policy),))
    assert iam_calls.allows(policy, attach)
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert not iam_calls.allows(
        policy, iam_calls.Request("iam:AttachRolePolicy", ROLE_ARN, (("iam:PolicyARN", admin),))
    )
    other_role = f"arn:aws:iam::{conftest.ACCOUNT}:role/someone-else"
    assert not iam_calls.allows(policy, iam_calls.Request("iam:AttachRolePolicy", other_role, attach.context))


def test_the_notebook_policy_without_a_role_has_no_role_statements(make_settings) -> None:
    settings = make_settings(bucket=BUCKET)
    policy = setup.notebook_policy(settings=settings, account=conftest.ACCOUNT)
    assert not {statement["Sid"] for statement in policy["Statement"]} & iam.ROLE_STATEMENTS
    with_node_role = setup.notebook_policy(settings=settings, account=conftest.ACCOUNT, node_role_name="nodes")
    attach = next(item for item in with_node_role["Statement"] if item["Sid"] == "AttachOnlyThePodsPolicyToTheRole")
    assert attach["Resource"] == f"arn:aws:iam::{conftest.ACCOUNT}:role/nodes"


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"pods_policy_arn": "*"}, "pods_policy_arn"),
        ({"pods_policy_arn": f"arn:aws:iam::{conftest.ACCOUNT}:policy/x", "role_arn": "*"}, "role_arn"),
    ],
)
def test_notebook_policy_document_rejects_values_that_would_widen_it(arguments: dict, parameter: str) -> None:
    with pytest.raises(errors.ConfigError) as caught:
        iam.notebook_policy_document(partition="aws", bucket=BUCKET, repository_arns=[REPOSITORY_ARN], **arguments)
    assert caught.value.parameter == parameter
