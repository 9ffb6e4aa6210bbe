"""Kubernetes objects that give pods AWS credentials: the `aws-secret` Secret, or an IRSA ServiceAccount.

With `role_arn` set, pods use IRSA (a ServiceAccount annotated with the role) and no key
leaves the notebook. Otherwise the session's resolved keys go into `aws-secret`, in a dict
whose repr and str hide them, so displaying it in a cell never leaks a key.
"""

from __future__ import annotations

from typing import Any

import boto3.session
import botocore.credentials

from helpers import errors, manifests, settings as settings_module

TEMPLATE = "aws-credentials"
SECRET_NAME = "aws-secret"
ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"


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


def secret_manifest(
    *, settings: settings_module.Settings, credentials: botocore.credentials.ReadOnlyCredentials
) -> SecretManifest:
    """The `aws-secret` Secret holding the keys (and session token when there is one) and the region.

    The result hides its values in repr/str; do not display it with json or yaml dumps.
    """
    secret = SecretManifest(manifests.find(_rendered(settings), "Secret", SECRET_NAME))
    data = dict(secret.get("stringData") or {})
    data["AWS_ACCESS_KEY_ID"] = credentials.access_key
    data["AWS_SECRET_ACCESS_KEY"] = credentials.secret_key
    if credentials.token:
        data["AWS_SESSION_TOKEN"] = credentials.token
    secret["stringData"] = data
    return secret


def service_account_manifest(*, settings: settings_module.Settings) -> dict[str, Any]:
    """The ServiceAccount pods run as, annotated with `settings.role_arn` for IRSA when it is set."""
    account = manifests.find(_rendered(settings), "ServiceAccount", settings.service_account)
    if settings.role_arn:
        metadata = account.setdefault("metadata", {})
        metadata["annotations"] = {**(metadata.get("annotations") or {}), ROLE_ANNOTATION: settings.role_arn}
    return account


def pod_credentials(*, settings: settings_module.Settings, session: boto3.session.Session) -> dict[str, Any]:
    """The one object to apply: the IRSA ServiceAccount when `role_arn` is set, else the `aws-secret` Secret."""
    if settings.role_arn:
        return service_account_manifest(settings=settings)
    return secret_manifest(settings=settings, credentials=session_credentials(session=session))


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
