"""Kubernetes objects that give pods AWS credentials: their own ServiceAccount, and with static keys `aws-secret`.

The series' pods run as `settings.service_account` (`<app_name>-workloads`), never as the profile's
`default-editor`, so an IRSA role reaches only them. With `role_arn` set that ServiceAccount is
annotated with the role and no key leaves the notebook. Otherwise long-lived keys (an IAM user's)
go into `aws-secret`, in a dict whose repr and str hide them; temporary credentials (IRSA, SSO,
an assumed role, a session token) are refused, since a frozen copy expires under running pods.
"""

from __future__ import annotations

from typing import Any

import boto3.session
import botocore.credentials

from helpers import errors, manifests, settings as settings_module

TEMPLATE = "aws-credentials"
SECRET_NAME = "aws-secret"
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
# botocore's names (`Credentials.method`) for sources of keys that do not expire by themselves;
# every other source (assume-role, assume-role-with-web-identity, sso, container-role, iam-role,
# custom-process, login) hands out temporary credentials.
LONG_LIVED_METHODS = frozenset(
    {"env", "explicit", "shared-credentials-file", "config-file", "boto-config", "ec2-credentials-file"}
)


class SecretManifest(dict[str, Any]):
    """A Secret manifest that shows its name but never its values when printed, logged or displayed."""

    def __repr__(self) -> str:
        metadata = self.get("metadata", {})
        keys = sorted(self.get("stringData", {}))
        return f"<Secret {metadata.get('namespace')}/{metadata.get('name')} keys={keys} (values hidden)>"

    __str__ = __repr__

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _rendered(settings: settings_module.Settings) -> list[manifests.Resource]:
    values = {"namespace": settings.namespace, "region": settings.region, "service_account": settings.service_account}
    return manifests.render(TEMPLATE, values, app_name=settings.app_name)


def session_credentials(*, session: boto3.session.Session) -> botocore.credentials.ReadOnlyCredentials:
    """The session's resolved credentials (environment, profile, SSO...); raises AwsError when there are none."""
    with_refresh = session.get_credentials()
    if with_refresh is None:
        raise errors.AwsError(
            "ResolveCredentials",
            "NoCredentials",
            "no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the aws_profile setting",
        )
    return with_refresh.get_frozen_credentials()


def temporary_source(credentials: botocore.credentials.Credentials) -> str:
    """Why `credentials` expire ("sso", "session token", ...), or "" when they are long-lived keys."""
    if isinstance(credentials, botocore.credentials.RefreshableCredentials) or (
        credentials.method not in LONG_LIVED_METHODS
    ):
        return credentials.method or "refreshable"
    if credentials.get_frozen_credentials().token:
        return f"{credentials.method} with a session token"
    return ""


def long_lived_credentials(*, session: boto3.session.Session) -> botocore.credentials.ReadOnlyCredentials:
    """The session's keys when they do not expire; raises ConfigError naming the choice when they do
    (temporary credentials frozen into a Secret would stop working under pods that are still running),
    or AwsError when there are none."""
    found = session.get_credentials()
    if found is not None:
        source = temporary_source(found)
        if source:
            raise errors.ConfigError(
                "role_arn",
                "",
                f"your AWS credentials are temporary ({source}) and would expire inside the pods' Secret. "
                "Set role_arn to an IAM role for IRSA (see the README's 'AWS credentials and IAM'), "
                "or give an IAM user's long-lived keys explicitly (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                "without AWS_SESSION_TOKEN, or aws_profile naming such keys)",
            )
    return session_credentials(session=session)


def secret_manifest(
    *, settings: settings_module.Settings, credentials: botocore.credentials.ReadOnlyCredentials
) -> SecretManifest:
    """The `aws-secret` Secret holding long-lived keys and the region; raises ConfigError for keys with a
    session token, which would expire inside the Secret.

    The result hides its values in repr/str; do not display it with json or yaml dumps.
    """
    if credentials.token:
        raise errors.ConfigError(
            "role_arn", "", "keys with a session token expire; set role_arn for IRSA or give long-lived keys"
        )
    secret = SecretManifest(manifests.find(_rendered(settings), "Secret", SECRET_NAME))
    data = dict(secret.get("stringData") or {})
    data["AWS_ACCESS_KEY_ID"] = credentials.access_key
    data["AWS_SECRET_ACCESS_KEY"] = credentials.secret_key
    secret["stringData"] = data
    return secret


def service_account_manifest(*, settings: settings_module.Settings) -> dict[str, Any]:
    """The ServiceAccount the series' pods run as, annotated with `settings.role_arn` for IRSA when it is set."""
    account = manifests.find(_rendered(settings), "ServiceAccount", settings.service_account)
    if settings.role_arn:
        metadata = account.setdefault("metadata", {})
        metadata["annotations"] = {**(metadata.get("annotations") or {}), ROLE_ANNOTATION: settings.role_arn}
    return account


def pod_credentials(*, settings: settings_module.Settings, session: boto3.session.Session) -> list[dict[str, Any]]:
    """What to apply: the pods' ServiceAccount (IRSA-annotated when `role_arn` is set), and without a role
    the `aws-secret` Secret of long-lived keys. Raises ConfigError for temporary credentials without a role."""
    account = service_account_manifest(settings=settings)
    if settings.role_arn:
        return [account]
    return [account, secret_manifest(settings=settings, credentials=long_lived_credentials(session=session))]


def for_pods(resources: list[dict[str, Any]], *, settings: settings_module.Settings) -> list[dict[str, Any]]:
    """Point the pods at their credentials: with IRSA, drop `envFrom` references to `aws-secret`
    (static keys in the environment would win over the role); otherwise leave them. Edits in place."""
    if not settings.role_arn:
        return resources
    for spec in _pod_specs(resources):
        for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
            sources = [
                source
                for source in container.get("envFrom", [])
                if (source.get("secretRef") or {}).get("name") != SECRET_NAME
            ]
            if sources:
                container["envFrom"] = sources
            else:
                container.pop("envFrom", None)
    return resources


def _pod_specs(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = []
    for resource in resources:
        spec = resource.get("spec") or {}
        if "template" in spec:
            specs.append(spec["template"]["spec"])
        for replica in (spec.get("tfReplicaSpecs") or {}).values():
            specs.append(replica["template"]["spec"])
    return specs
