"""The kubeflow backend: AWS through boto3, the manifests applied to the cluster through `cluster`.

It is chosen inside a Kubeflow notebook server (or with `backend=kubeflow` and a kubeconfig).
The AWS session and the Kubernetes client are made on first use and kept by the backend
object, never at import time.
"""

from __future__ import annotations

import functools
import logging
import pathlib
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import boto3.session

from helpers import errors, image, manifests, removal, report, routes, settings as settings_module, state, workloads
from helpers.aws import access, credentials, ecr, identity, partition, s3, session as aws_session, setup as aws_setup
from helpers.backends import base
from helpers.cluster import (
    _fetch,
    _kinds,
    access as cluster_access,
    apply,
    cleanup as cluster_cleanup,
    create,
    delete,
    discovery,
    login,
    logs,
    training_apis,
    trainjob as cluster_trainjob,
    wait,
)
from helpers.local import trainjob as local_trainjob

logger = logging.getLogger(__name__)

BUILD_CONTEXT_PREFIX = "build-contexts"
# Under the state folder: what `fetch` downloads from S3 (event files, metrics).
CACHE_DIR = "cache"
# Lines of the build Job's log shown in the notebook.
BUILD_LOG_LINES = 30
# How often the chief's log is read while a job trains: the chief reports every few seconds, and a
# whole read of its log (a few hundred lines) costs the API server little.
CHIEF_LOG_INTERVAL_S = 2.0


@base.register
class KubeflowBackend(base.Backend):
    """Runs on Kubeflow on EKS: S3, ECR and IAM through boto3, workloads through the Kubernetes API."""

    name = "kubeflow"

    def __init__(self, *, settings: settings_module.Settings) -> None:
        super().__init__(settings=settings)
        self._session: boto3.session.Session | None = None
        self._api: Any = None
        self.routes: dict[str, str] = {}
        """What `deploy` did with each VirtualService, by name: "applied" or "not allowed"."""

    @property
    def session(self) -> boto3.session.Session:
        """The AWS session, made on first use."""
        if self._session is None:
            self._session = aws_session.make_session(settings=self.settings)
        return self._session

    @property
    def api(self) -> Any:
        """The Kubernetes API client, logged in on first use."""
        if self._api is None:
            self._api = login.connect(settings=self.settings)
        return self._api

    def check_identity(self) -> report.Report:
        """Ask STS who we are and check that S3 and ECR answer; raises AwsError naming refused actions."""
        caller = identity.caller_identity(session=self.session)
        checks = access.check_access(session=self.session, settings=self.settings)
        rows = [report.Row("identity", caller.arn, "ok"), report.Row("account", caller.account, caller.partition)]
        rows += [report.Row(check.action, check.detail, "ok" if check.allowed else "denied") for check in checks]
        missing = access.refused(checks)
        if missing:
            logger.error("%s", report.Report("Identity", tuple(rows)))
            raise errors.AwsError(
                "CheckAccess", "AccessDenied", f"{caller.arn} may not call these actions", permission=", ".join(missing)
            )
        return report.Report("Identity", tuple(rows))

    def ensure_storage(self, *, node_role_name: str = "") -> report.Report:
        """Create the bucket, repository and least-privilege policy; records the bucket."""
        result = aws_setup.setup(settings=self.settings, node_role_name=node_role_name)
        self.settings = result.settings
        settings_module.save(self.settings)
        return result.as_report()

    def grant_access(self) -> report.Report:
        """Apply the pods' own ServiceAccount (IRSA-annotated with `role_arn`) and, without a role, the
        `aws-secret` Secret of long-lived keys (with one, delete a Secret an earlier run left); raises
        ConfigError for temporary credentials without a role."""
        resources = credentials.pod_credentials(settings=self.settings, session=self.session)
        apply.apply(resources, api=self.api, settings=self.settings)
        # With a role, long-lived keys left by an earlier run without one go: no pod reads them any more.
        stale = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": credentials.SECRET_NAME}}
        removed = delete.delete([stale], api=self.api, settings=self.settings) if self.settings.role_arn else []
        how = {
            "ServiceAccount": "IRSA role " + self.settings.role_arn if self.settings.role_arn else "no role",
            "Secret": "long-lived keys from your credentials",
        }
        rows = tuple(
            report.Row(
                resource["kind"],
                f"{self.settings.namespace}/{resource['metadata']['name']} ({how[resource['kind']]})",
                "applied",
            )
            for resource in resources
        )
        rows += tuple(
            report.Row("Secret", f"{target} (its keys: the pods use the IRSA role)", "deleted") for target in removed
        )
        return report.Report("Credentials for the pods", rows)

    def build_image(
        self, *, context: image.BuildContext, builder_image: str, repository: str, record_as: str
    ) -> report.Report:
        """Upload the context to S3 and build it in-cluster into ECR, unless ECR has the tag already."""
        bucket = self.settings.require("bucket")
        caller = identity.caller_identity(session=self.session)
        uri = f"{partition.repository_uri(caller.account, self.settings.region, repository)}:{context.tag}"
        rows = [report.Row("image", uri, "")]
        if ecr.image_exists(session=self.session, repository=repository, tag=context.tag):
            rows[0] = report.Row("image", uri, "exists")
        else:
            context_uri = f"s3://{bucket}/{BUILD_CONTEXT_PREFIX}/{context.tarball.name}"
            s3.upload_file(context.tarball, context_uri, client=self.session.client("s3"))
            rows.append(report.Row("build context", context_uri, "uploaded"))
            rows += self._run_build_job(context=context, context_uri=context_uri, uri=uri, builder_image=builder_image)
            rows[0] = report.Row("image", uri, "built")
        state.save(
            self.settings.state_dir,
            state.Image(uri=uri, tag=context.tag, built_with="in-cluster build Job"),
            section=record_as,
        )
        return report.Report(f"{base.IMAGE_TITLES.get(record_as, record_as)} (ECR)", tuple(rows))

    def _run_build_job(
        self, *, context: image.BuildContext, context_uri: str, uri: str, builder_image: str
    ) -> list[report.Row]:
        resources = workloads.build_job(
            settings=self.settings,
            tag=context.tag,
            dockerfile=context.dockerfile,
            context_uri=context_uri,
            image=uri,
            builder_image=builder_image,
        )
        job = manifests.find(resources, "Job")
        self._require_pod_account()
        # A Job's pod template cannot be changed, and a failed Job stays failed: start afresh.
        delete.delete([job], api=self.api, settings=self.settings)
        apply.apply(resources, api=self.api, settings=self.settings)
        job_name = job["metadata"]["name"]
        selector = f"job-name={job_name}"
        try:
            wait.wait_for_job(job_name, api=self.api, settings=self.settings)
        except errors.ClusterError:
            for pod, text in logs.pod_logs(
                api=self.api, settings=self.settings, selector=selector, tail_lines=BUILD_LOG_LINES
            ).items():
                logger.error("build log of %s:\n%s", pod, text)
            raise
        tail = logs.pod_logs(api=self.api, settings=self.settings, selector=selector, tail_lines=BUILD_LOG_LINES)
        for pod, text in tail.items():
            logger.info("build log of %s:\n%s", pod, text)
        return [report.Row("build Job", f"{self.settings.namespace}/{job_name}", "succeeded")]

    def upload(self, path: pathlib.Path, uri: str) -> None:
        """Upload `path` to S3 at `uri`."""
        s3.upload_file(path, uri, client=self.session.client("s3"))

    def fetch(self, uri: str) -> pathlib.Path:
        """Download what is under `uri` (a folder prefix or one object) into the state folder's cache."""
        bucket, key = s3.parse_uri(uri)
        target = self.settings.state_dir / CACHE_DIR / bucket / key
        client = self.session.client("s3")
        if s3.download_tree(uri, target, client=client) == 0:
            s3.download_file(uri, target, client=client)
        return target

    def copy_tree(self, source_uri: str, target_uri: str) -> None:
        """Download a complete version, then upload it under the new prefix, its completion marker last;
        the serving pod's sync sidecar promotes a version only once its marker is there. Raises
        ConfigError when the source is not complete, AwsError."""
        client = self.session.client("s3")
        with tempfile.TemporaryDirectory() as scratch:
            s3.download_tree(source_uri, scratch, client=client)
            if not s3.is_complete(pathlib.Path(scratch)):
                raise errors.ConfigError(
                    "source_uri", source_uri, f"is not a complete model version (no {s3.COMPLETE_MARKER})"
                )
            s3.upload_tree(scratch, target_uri, client=client)

    def training_api(self) -> str:
        """`settings.training_api`, with `auto` resolved by what the cluster serves (see `training_apis.choose`).

        Raises ClusterError naming what to install: Trainer v2, the training operator, or the runtime
        (with the administrator's `kubectl apply` command).
        """
        runtime_name = workloads.training_runtime(settings=self.settings)["metadata"]["name"]
        served = self._discover(runtime_name)
        return training_apis.choose(self.settings.training_api, served, runtime_name=runtime_name)

    def _discover(self, runtime_name: str) -> training_apis.Served:
        return training_apis.discover(api=self.api, settings=self.settings, runtime_name=runtime_name)

    def run_training(self, job: manifests.Resource, *, on_line: base.OnLine | None = None) -> dict[str, Any]:
        """Submit the TFJob or TrainJob (replacing one of the same name), wait for its end, pass on the chief's log.

        A TFJob ends Succeeded, a TrainJob Complete (its JobSet's success policy: the chief). A TrainJob is
        first checked against the runtime the cluster has: raises ClusterError when it is missing, ConfigError
        when its counts differ from the job's; then it is written in the fields of the cluster's Trainer
        release (`training_apis.for_trainer`: Kubeflow 1.11's Trainer v2.1 has no runtimePatches).
        """
        name = job["metadata"]["name"]
        self._require_pod_account()
        if job["kind"] == "TrainJob":
            self._trainjob_specs(job)
            fields = training_apis.trainjob_spec_fields(api=self.api, settings=self.settings)
            job = training_apis.for_trainer(job, fields)
        # Re-submitting a finished job would change nothing (a TrainJob's trainer is immutable): remove it first.
        delete.delete([job], api=self.api, settings=self.settings)
        apply.apply([job], api=self.api, settings=self.settings)
        read = functools.partial(self._task_log, job, "chief", 0, tail_lines=None)
        with _ChiefLog(on_line, read, interval_s=CHIEF_LOG_INTERVAL_S):
            if job["kind"] == "TrainJob":
                return cluster_trainjob.wait_for_trainjob(name, api=self.api, settings=self.settings)
            return wait.wait_for_tfjob(name, api=self.api, settings=self.settings)

    def _require_pod_account(self) -> None:
        """Raise ConfigError naming 01 when the pods' ServiceAccount is missing.

        Without it the job's (or a Deployment's ReplicaSet's) controller is refused every pod (the ServiceAccount
        admission) and says so only in its own events and logs: the wait would end in a bare timeout many minutes later.
        """
        account = self.settings.service_account
        found = _fetch.get_or_none(
            _kinds.by_name("ServiceAccount"), account, api=self.api, settings=self.settings,
            namespace=self.settings.namespace, action="read",
        )  # fmt: skip
        if found is None:
            raise errors.ConfigError(
                "service_account",
                account,
                f"no ServiceAccount {self.settings.namespace}/{account} for the pods: run 01_aws_setup first "
                "(its grant_access step creates it)",
            )

    def _trainjob_specs(self, job: manifests.Resource) -> dict[str, dict[str, Any]]:
        """The replicas the installed runtime makes of `job`; raises ClusterError/ConfigError as `run_training`."""
        runtime_name = job["spec"]["runtimeRef"]["name"]
        served = self._discover(runtime_name)
        training_apis.choose("trainjob", served, runtime_name=runtime_name)
        runtime = served.runtime
        if served.runtime_unreadable or not runtime:  # judged by the repository's copy, as installed from it
            runtime = workloads.training_runtime(settings=self.settings)
        return local_trainjob.replica_specs(job, runtime)

    def _task_log(self, job: manifests.Resource, role: str, index: int, *, tail_lines: int | None) -> str:
        pods = cluster_trainjob.TRAINJOB_PODS if job["kind"] == "TrainJob" else logs.TFJOB_PODS
        name = job["metadata"]["name"]
        return logs.task_log(pods, name, role, index, api=self.api, settings=self.settings, tail_lines=tail_lines)

    def replica_logs(self, job: manifests.Resource, *, tail_lines: int) -> dict[str, str]:
        """The training container's last lines for every replica of the TFJob or TrainJob that still has a pod."""
        specs = self._trainjob_specs(job) if job["kind"] == "TrainJob" else job["spec"]["tfReplicaSpecs"]
        gone = {
            "TFJob": "(pod removed by the job's cleanPodPolicy)",
            "TrainJob": "(pod deleted with its Job when the JobSet finished)",
        }[job["kind"]]
        found = {}
        for replica_type, spec in specs.items():
            for index in range(int(spec.get("replicas", 1))):
                replica = f"{replica_type.lower()}-{index}"
                try:
                    found[replica] = self._task_log(job, replica_type.lower(), index, tail_lines=tail_lines)
                except errors.ClusterError as e:
                    if e.status != 404:
                        raise
                    found[replica] = gone
        return found

    def serves(self, group_version: str) -> bool:
        """Whether the cluster serves `group_version` (API discovery), e.g. "tensorboard.kubeflow.org/v1alpha1"."""
        return discovery.serves(group_version, api=self.api, settings=self.settings)

    def may(self, verb: str, kind: str) -> bool:
        """Whether the notebook's identity may `verb` objects of `kind` in its namespace (SelfSubjectAccessReview)."""
        return cluster_access.may(verb, _kinds.by_name(kind), api=self.api, settings=self.settings)

    def deploy(self, resources: list[manifests.Resource]) -> dict[str, str]:
        """Apply the resources, wait for each Deployment's rollout; returns in-cluster Service URLs.

        Kinds a profile may create but not patch (Kubeflow's `Tensorboard`) are created, and
        replaced when their spec changed; a Tensorboard's own Deployment (made by Kubeflow's
        controller, with its name) is waited for too. A VirtualService is applied only where this
        identity may create and patch VirtualServices; otherwise a warning says how to get in
        without it and holds the YAML an administrator can apply (see `routes`).
        """
        workloads_, virtual_services = routes.split(resources)
        if any(resource["kind"] == "Deployment" for resource in workloads_):
            self._require_pod_account()  # else the rollout wait would time out on a ReplicaSet refused its pods
        for resource in workloads_:
            if resource["kind"] in create.CREATE_ONLY_KINDS:
                create.create([resource], api=self.api, settings=self.settings)
            else:
                apply.apply([resource], api=self.api, settings=self.settings)
        for resource in workloads_:
            if resource["kind"] in ("Deployment", "Tensorboard"):
                wait.wait_for_rollout(resource["metadata"]["name"], api=self.api, settings=self.settings)
        urls = {
            resource["metadata"]["name"]: _service_url(resource, namespace=self.settings.namespace)
            for resource in workloads_
            if resource["kind"] in ("Service", "Tensorboard")
        }
        for virtual_service in virtual_services:
            self._route(virtual_service, urls)
        return urls

    def _route(self, virtual_service: manifests.Resource, urls: dict[str, str]) -> None:
        """Apply a VirtualService where allowed; otherwise log the ways in and the YAML for an administrator."""
        name = virtual_service["metadata"]["name"]
        if self.may("create", routes.KIND) and self.may("patch", routes.KIND):
            apply.apply([virtual_service], api=self.api, settings=self.settings)
            self.routes[name] = "applied"
            return
        route = routes.route_of(virtual_service, namespace=self.settings.namespace)
        url = urls.get(route.service, "").rstrip("/")
        message = routes.not_allowed_message(
            virtual_service,
            namespace=self.settings.namespace,
            in_cluster_url=url + route.service_path if url else "",
        )
        logger.warning("%s", message)
        self.routes[name] = "not allowed"

    def clean_up(self, *, bucket: bool, repository: bool) -> list[report.Row]:
        """Delete the series' cluster objects by label and, when asked, the S3 bucket and the ECR repositories."""
        try:
            rows = cluster_cleanup.delete_series(api=self.api, settings=self.settings)
        finally:
            # Clean-up is the last call of a session: let its connections go (a later call logs in again).
            self.api.close()
            self._api = None
        if self.settings.service_account in cluster_cleanup.PROFILE_ACCOUNTS:
            annotation = "; its IRSA annotation stays" if self.settings.role_arn else ""
            account = f"{self.settings.namespace}/{self.settings.service_account}"
            rows.append(
                report.Row("ServiceAccount", f"{account} (belongs to the Kubeflow profile{annotation})", removal.KEPT)
            )
        rows.append(
            removal.optional(
                "S3 bucket",
                f"s3://{self.settings.bucket}" if self.settings.bucket else "",
                asked=bucket,
                flag="--bucket",
                remove=lambda: s3.delete_bucket(session=self.session, bucket=self.settings.bucket),
            )
        )
        for name in (self.settings.repository, self.settings.ui_repository):
            rows.append(
                removal.optional(
                    "ECR repository",
                    name,
                    asked=repository,
                    flag="--repository",
                    remove=functools.partial(ecr.delete_repository, session=self.session, name=name),
                )
            )
        cache = self.settings.state_dir / CACHE_DIR
        rows.append(
            report.Row("download cache", str(cache), removal.REMOVED if removal.remove_tree(cache) else removal.GONE)
        )
        return rows

    def undeploy(self, resources: list[manifests.Resource]) -> None:
        """Delete the resources and wait until they are gone; VirtualServices only where this identity may."""
        workloads_, virtual_services = routes.split(resources)
        if virtual_services and not self.may("delete", routes.KIND):
            names = ", ".join(resource["metadata"]["name"] for resource in virtual_services)
            logger.info("not deleting VirtualService %s: this ServiceAccount may not delete VirtualServices", names)
            virtual_services = []
        delete.delete(workloads_ + virtual_services, api=self.api, settings=self.settings)


# The port of the Service that Kubeflow's tensorboard controller makes for a `Tensorboard` (its name, port 80).
TENSORBOARD_SERVICE_PORT = 80


def _service_url(service: manifests.Resource, *, namespace: str) -> str:
    """The in-cluster URL of a Service's HTTP port, or of the Service a `Tensorboard` resource gets."""
    port = TENSORBOARD_SERVICE_PORT if service["kind"] == "Tensorboard" else manifests.http_port(service)["port"]
    return f"http://{service['metadata']['name']}.{namespace}.svc.cluster.local:{port}"


class _ChiefLog:
    """Passes on the chief's new log lines as they come: read every `interval_s` by a thread while the
    job runs (so the notebook's bar moves with each step the chief reports), and once more at its end."""

    def __init__(self, on_line: base.OnLine | None, read: Callable[[], str], *, interval_s: float) -> None:
        self._on_line, self._read, self._interval_s = on_line, read, interval_s
        self._seen = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow_until_stopped, name="chief-log", daemon=True)

    def __enter__(self) -> _ChiefLog:
        if self._on_line is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        self.follow()

    def _follow_until_stopped(self) -> None:
        while not self._stopping.wait(self._interval_s):
            try:
                self.follow()
            except errors.ClusterError as e:
                # The final read, in the caller's thread, reports a lasting failure; one missed read only delays lines.
                logger.debug("reading the chief's log: %s", e)

    def follow(self) -> None:
        """Pass on the lines not passed on yet; a chief without a pod yet (or any more) has none."""
        if self._on_line is None:
            return
        with self._lock:
            try:
                text = self._read()
            except errors.ClusterError as e:
                if e.status == 404:  # not scheduled yet, or already cleaned up
                    return
                raise
            lines = text.splitlines()
            for line in lines[self._seen :]:
                self._on_line(f"chief-0 | {line}")
            self._seen = len(lines)
