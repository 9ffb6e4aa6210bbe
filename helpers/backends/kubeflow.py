"""The kubeflow backend: AWS through boto3, the manifests applied to the cluster through `cluster`.

It is chosen inside a Kubeflow notebook server (or with `backend=kubeflow` and a kubeconfig).
The AWS session and the Kubernetes client are made on first use and kept by the backend
object, never at import time.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3.session

from helpers import errors, image, manifests, report, settings as settings_module, state, workloads
from helpers.aws import access, credentials, ecr, identity, partition, s3, session as aws_session, setup as aws_setup
from helpers.backends import base
from helpers.cluster import apply, delete, login, logs, wait

logger = logging.getLogger(__name__)

BUILD_CONTEXT_PREFIX = "build-contexts"
# Lines of the build Job's log shown in the notebook.
BUILD_LOG_LINES = 30


@base.register
class KubeflowBackend(base.Backend):
    """Runs on Kubeflow on EKS: S3, ECR and IAM through boto3, workloads through the Kubernetes API."""

    name = "kubeflow"

    def __init__(self, *, settings: settings_module.Settings) -> None:
        super().__init__(settings=settings)
        self._session: boto3.session.Session | None = None
        self._api: Any = None

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
        """Apply the IRSA ServiceAccount or the `aws-secret` Secret to the namespace."""
        pod_credentials = credentials.pod_credentials(settings=self.settings, session=self.session)
        apply.apply([pod_credentials], api=self.api, settings=self.settings)
        kind = pod_credentials["kind"]
        name = pod_credentials["metadata"]["name"]
        how = "IRSA role " + self.settings.role_arn if self.settings.role_arn else "keys from your credentials"
        return report.Report(
            "Credentials for the pods", (report.Row(kind, f"{self.settings.namespace}/{name} ({how})", "applied"),)
        )

    def build_image(self, *, context: image.BuildContext, builder_image: str) -> report.Report:
        """Upload the context to S3 and build it in-cluster into ECR, unless ECR has the tag already."""
        bucket = self.settings.require("bucket")
        caller = identity.caller_identity(session=self.session)
        uri = (
            f"{partition.repository_uri(caller.account, self.settings.region, self.settings.repository)}:{context.tag}"
        )
        rows = [report.Row("image", uri, "")]
        if ecr.image_exists(session=self.session, repository=self.settings.repository, tag=context.tag):
            rows[0] = report.Row("image", uri, "exists")
        else:
            context_uri = f"s3://{bucket}/{BUILD_CONTEXT_PREFIX}/{context.tarball.name}"
            s3.upload_file(context.tarball, context_uri, client=self.session.client("s3"))
            rows.append(report.Row("build context", context_uri, "uploaded"))
            rows += self._run_build_job(context=context, context_uri=context_uri, uri=uri, builder_image=builder_image)
            rows[0] = report.Row("image", uri, "built")
        state.update(
            self.settings.state_dir, "image", {"uri": uri, "tag": context.tag, "built_with": "in-cluster build Job"}
        )
        return report.Report("Training image (ECR)", tuple(rows))

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
