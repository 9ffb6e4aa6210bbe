"""Notebook 01's AWS step in one call: identity, access checks, bucket, repository, policy, role attachment.

Every step is idempotent, so re-running the cell reports "exists" instead of failing, and
the returned report lists what was done with no secret in it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from helpers import errors, report, settings as settings_module
from helpers.aws import access, ecr, iam, identity, partition, s3, session as session_module

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SetupReport:
    """What `setup` found and did; `settings` carries the bucket it chose, for `settings.save`."""

    settings: settings_module.Settings
    caller: identity.Identity
    checks: tuple[access.AccessCheck, ...]
    bucket_status: str
    repositories: tuple[ecr.RepositoryInfo, ...]
    policy: iam.PolicyInfo
    role_name: str = ""
    role_status: str = ""

    def rows(self) -> tuple[report.Row, ...]:
        """One row per thing looked at: identity, each permission check, bucket, repository, policy, role."""
        rows = [report.Row("identity", self.caller.arn, "ok")]
        rows += [report.Row(check.action, check.detail, "ok" if check.allowed else "denied") for check in self.checks]
        rows += [
            report.Row("S3 bucket", f"s3://{self.settings.bucket} ({self.settings.region})", self.bucket_status),
            *(
                report.Row("ECR repository", repository.uri, "created" if repository.created else "exists")
                for repository in self.repositories
            ),
            report.Row("IAM policy", self.policy.arn, self.policy.status),
        ]
        if self.role_name:
            rows.append(report.Row("policy attached to role", self.role_name, self.role_status))
        return tuple(rows)

    def as_report(self) -> report.Report:
        """The rows as a table (HTML in a notebook, text in logs)."""
        return report.Report(f"AWS setup ({partition.partition_for(self.settings.region)} partition)", self.rows())

    def __str__(self) -> str:
        return str(self.as_report())

    def _repr_html_(self) -> str:
        return self.as_report()._repr_html_()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def policy_name(settings: settings_module.Settings) -> str:
    """The managed policy's name: one per app and bucket, so two workshops in one account do not collide."""
    return f"{settings.app_name}-{settings.bucket}-access"[:128]


def notebook_policy(*, settings: settings_module.Settings, account: str, node_role_name: str = "") -> dict[str, Any]:
    """The IAM policy an administrator grants the notebook's own identity (manifests/notebook-iam-policy.json)
    for these settings in `account`; the role is `settings.role_arn`, else `node_role_name`, else none."""
    bucket = settings.bucket or partition.default_bucket_name(account, settings.region, settings.app_name)
    name = partition.partition_for(settings.region)
    role_arn = settings.role_arn or (
        partition.arn("iam", f"role/{node_role_name}", partition=name, account=account) if node_role_name else ""
    )
    return iam.notebook_policy_document(
        partition=name,
        bucket=bucket,
        repository_arns=[
            partition.repository_arn(account, settings.region, repository)
            for repository in (settings.repository, settings.ui_repository)
        ],
        pods_policy_arn=partition.arn(
            "iam",
            f"policy/{policy_name(settings.model_copy(update={'bucket': bucket}))}",
            partition=name,
            account=account,
        ),
        role_arn=role_arn,
    )


def setup(*, settings: settings_module.Settings, node_role_name: str = "") -> SetupReport:
    """Check identity and access, then ensure the bucket, both repositories and least-privilege policy.

    The policy is attached to the IRSA role when `settings.role_arn` is set, else to
    `node_role_name` when given. An empty `settings.bucket` becomes `default_bucket_name(...)`.
    Raises AwsError naming every refused permission before anything is created.
    """
    session = session_module.make_session(settings=settings)
    caller = identity.caller_identity(session=session)
    if not settings.bucket:
        bucket = partition.default_bucket_name(caller.account, settings.region, settings.app_name)
        settings = settings.model_copy(update={"bucket": bucket})
    checks = access.check_access(session=session, settings=settings)
    missing = access.refused(checks)
    if missing:
        raise errors.AwsError(
            "CheckAccess",
            "AccessDenied",
            f"{caller.arn} may not call these actions; ask an administrator to allow them",
            permission=", ".join(missing),
        )
    bucket_status = s3.ensure_bucket(
        session=session, bucket=settings.bucket, region=settings.region, owner=caller.account
    )
    repositories = tuple(
        ecr.ensure_repository(session=session, name=name) for name in (settings.repository, settings.ui_repository)
    )
    document = iam.policy_document(
        partition=caller.partition,
        bucket=settings.bucket,
        repository_arns=[repository.arn for repository in repositories],
    )
    policy = iam.ensure_policy(session=session, name=policy_name(settings), document=document)
    role_name = iam.role_name_of(settings.role_arn) if settings.role_arn else node_role_name
    role_status = (
        iam.attach_role_policy(session=session, role_name=role_name, policy_arn=policy.arn) if role_name else ""
    )
    result = SetupReport(
        settings=settings,
        caller=caller,
        checks=tuple(checks),
        bucket_status=bucket_status,
        repositories=repositories,
        policy=policy,
        role_name=role_name,
        role_status=role_status,
    )
    logger.info("%s", result)
    return result
