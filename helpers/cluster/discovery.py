"""Ask the API server whether it serves an API group and version, before choosing what to apply.

Kubeflow's optional components bring their own APIs (the `Tensorboard` resource of
tensorboard.kubeflow.org, for one); a cluster without the component answers 404 for the group.
Discovery is readable by every authenticated user, so the answer never depends on RBAC.
"""

from __future__ import annotations

import logging
from typing import Any

from helpers import errors, settings as settings_module
from helpers.cluster import _api

logger = logging.getLogger(__name__)


def serves(group_version: str, *, api: Any, settings: settings_module.Settings) -> bool:
    """True when the server serves `group_version` (e.g. "tensorboard.kubeflow.org/v1alpha1").

    False when the group is unknown (404) or served without that version. Raises ValueError for
    a core or malformed group version, ClusterError when the server cannot answer.
    """
    group, _, version = group_version.partition("/")
    if not group or not version or "/" in version:
        raise ValueError(f"group_version {group_version!r} is not <group>/<version>")
    call = _api.Call(
        verb="get",
        path=f"/apis/{group}",
        action="discover",
        target=f"API group {group}",
        rbac_resource=f"(non-resource URL /apis/{group})",
    )
    try:
        answer = _api.request(api, call, settings=settings)
    except errors.ClusterError as e:
        if e.status == 404:
            logger.info("the cluster does not serve %s", group)
            return False
        raise
    versions = {str(item.get("version")) for item in answer.get("versions") or []}
    logger.info("the cluster serves %s in versions %s", group, ", ".join(sorted(versions)) or "none")
    return version in versions
