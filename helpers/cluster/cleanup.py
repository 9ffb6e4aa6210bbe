"""Delete the series' objects from the profile namespace, kind by kind, as far as the profile may.

Everything the notebooks apply carries the label `app.kubernetes.io/part-of=kubeflow-mnist`; it is
deleted by that label and waited until gone. A kind the profile may not list or delete (a
VirtualService an administrator applied), or that the cluster does not serve, is skipped or kept and
named in the report, never an error; the profile's own ServiceAccounts are never touched.
"""

from __future__ import annotations

from typing import Any

from helpers import errors, manifests, removal, report, settings as settings_module
from helpers.cluster import _fetch, _kinds, access, delete

PART_OF_SELECTOR = f"app.kubernetes.io/part-of={manifests.PART_OF}"
# Every kind the notebooks apply, in the order they apply them; deletion runs in reverse, so
# users go before what they use and the pods' ServiceAccount and the Secret holding the AWS keys go last.
CLUSTER_KINDS = (
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "Job",
    "TFJob",
    "TrainJob",
    "PersistentVolumeClaim",
    "Tensorboard",
    "Deployment",
    "Service",
    "VirtualService",
)
# Kinds the series may not have been allowed to create (routes are optional from Kubeflow 1.10 on):
# a 403 on them is reported, never fatal.
OPTIONAL_KINDS = frozenset({"VirtualService", "Tensorboard"})
# The ServiceAccounts of the Kubeflow profile itself: never the series' to delete, even when a
# user ran the pods as one of them and an earlier version labelled it.
PROFILE_ACCOUNTS = frozenset({"default-editor", "default-viewer"})


def delete_series(*, api: Any, settings: settings_module.Settings) -> list[report.Row]:
    """Delete every object of the series in `settings.namespace`, users first; one row per object or kind.

    Raises ClusterError for a refusal on a kind the series must have been able to create, WaitTimeout
    when an object does not go.
    """
    rows: list[report.Row] = []
    for kind in reversed(CLUSTER_KINDS):
        rows += _delete_kind(kind, api=api, settings=settings)
    if not any(row.status == removal.REMOVED for row in rows):
        where = f"labelled {PART_OF_SELECTOR} in namespace {settings.namespace}"
        rows.insert(0, report.Row("cluster objects", where, removal.GONE))
    return rows


def _delete_kind(kind_name: str, *, api: Any, settings: settings_module.Settings) -> list[report.Row]:
    """Delete the series' objects of one kind; returns a row per object removed, or why none was.

    A kind this identity may not list, or that the cluster does not serve, gives a "skipped" row;
    objects of an optional kind it may not delete (a route an administrator applied) "kept" rows.
    Raises ClusterError for any other refusal, WaitTimeout when an object does not go.
    """
    kind = _kinds.by_name(kind_name)
    if not access.may("list", kind, api=api, settings=settings):
        if not access.may("create", kind, api=api, settings=settings):
            return []  # the series could never have made one here (e.g. TrainJobs before Kubeflow 1.11)
        return [
            report.Row(kind_name, f"not looked for: this ServiceAccount may not list {kind.resource}", removal.SKIPPED)
        ]
    try:
        found = _fetch.list_objects(
            kind, api=api, settings=settings, namespace=settings.namespace, selector=PART_OF_SELECTOR, action="delete"
        )
    except errors.ClusterError as e:
        if e.status == 404:
            return [report.Row(kind_name, f"the cluster does not serve {kind.resource}", removal.SKIPPED)]
        if e.status == 403 and kind_name in OPTIONAL_KINDS:
            return [report.Row(kind_name, f"not looked for: listing {kind.resource} was refused", removal.SKIPPED)]
        raise
    # List items carry no apiVersion/kind of their own; the collection says what they are.
    resources: list[dict[str, Any]] = [
        {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {"name": item["metadata"]["name"]}}
        for item in found
        if not (kind_name == "ServiceAccount" and item["metadata"]["name"] in PROFILE_ACCOUNTS)
    ]
    if not resources:
        return []
    # A kind the series must have been able to create must be deletable too: a refusal there raises.
    if kind_name in OPTIONAL_KINDS and not access.may("delete", kind, api=api, settings=settings):
        why = "this ServiceAccount may not delete them; an administrator can"
        return [report.Row(kind_name, f"{item['metadata']['name']} ({why})", removal.KEPT) for item in resources]
    try:
        deleted = delete.delete(resources, api=api, settings=settings)
    except errors.ClusterError as e:
        if e.status == 403 and kind_name in OPTIONAL_KINDS:
            return [report.Row(kind_name, f"deletion was refused: {e}", removal.KEPT)]
        raise
    return [report.Row("cluster object", target, removal.REMOVED) for target in deleted]
