"""TF_CONFIG for a TrainJob's pod, built from what JobSet gives it, as the v1 training operator injects it.

Kubeflow Trainer v2 runs a TrainJob as a JobSet and has no TensorFlow runtime, so nothing sets TF_CONFIG.
The runtime in manifests/tf-ps-runtime.yaml runs the chief, the parameter servers and the workers as three
replicated jobs and hands each pod, through the downward API, its JobSet's name, its replicated job and
namespace; the Job controller adds JOB_COMPLETION_INDEX. JobSet names every pod
`<jobset>-<replicatedJob>-<jobIndex>-<podIndex>` under the subdomain `<jobset>` (a headless Service), so
every address is known without asking the API server. model.py calls `export()` before it reads TF_CONFIG.

Show what a pod would get:  JOBSET_NAME=mnist-train JOBSET_REPLICATED_JOB=worker JOB_COMPLETION_INDEX=1 \
    POD_NAMESPACE=ns TF_NUM_PS=1 TF_NUM_WORKERS=2 python model/tf_config.py
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

# The replicated jobs of the runtime, in TF_CONFIG's order; each is a TF task type of the same name.
ROLES = ("chief", "ps", "worker")
# The port every task serves gRPC on, as the v1 operator's default `tfjob-port`.
DEFAULT_PORT = 2222
# Trainer's validating webhook keeps `replicas: 1` for every trainer step, so each role is one Job
# (job index 0) whose pods are the tasks, indexed by their completion index.
JOB_INDEX = 0
# Set by the runtime on every pod; its presence says "this pod belongs to a JobSet".
JOBSET_NAME = "JOBSET_NAME"


def _count(environ: Mapping[str, str], name: str) -> int:
    text = environ.get(name, "1")
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name}={text!r}: must be a whole number of replicas, at least 1")
    return int(text)


def from_jobset(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The TF_CONFIG of this pod, from the JobSet env the runtime and the Job controller set.

    Same shape as the v1 operator's: `{"cluster": {"chief": [...], "ps": [...], "worker": [...]},
    "task": {"type": ..., "index": ...}, "environment": "cloud"}`, addresses
    `<jobset>-<role>-0-<i>.<subdomain>.<namespace>.svc:<port>`. Returns None with one task in total (the
    operator sets no TF_CONFIG then). Raises ValueError for a role, index or count that cannot be.
    """
    jobset = environ[JOBSET_NAME]
    role = environ.get("JOBSET_REPLICATED_JOB", "")
    if role not in ROLES:
        raise ValueError(f"JOBSET_REPLICATED_JOB={role!r}: the runtime's replicated jobs are {list(ROLES)}")
    counts = {"chief": 1, "ps": _count(environ, "TF_NUM_PS"), "worker": _count(environ, "TF_NUM_WORKERS")}
    index_text = environ.get("JOB_COMPLETION_INDEX", "0")
    if not index_text.isdigit() or int(index_text) >= counts[role]:
        raise ValueError(f"JOB_COMPLETION_INDEX={index_text!r}: {role} has {counts[role]} task(s)")
    if sum(counts.values()) == 1:
        return None
    # The headless Service JobSet makes is named after the JobSet unless the runtime names another.
    subdomain = environ.get("JOBSET_SUBDOMAIN") or jobset
    namespace = environ.get("POD_NAMESPACE", "")
    domain = f"{subdomain}.{namespace}.svc" if namespace else subdomain
    port = int(environ.get("TF_PORT") or DEFAULT_PORT)
    cluster = {
        name: [f"{jobset}-{name}-{JOB_INDEX}-{index}.{domain}:{port}" for index in range(count)]
        for name, count in counts.items()
    }
    return {"cluster": cluster, "task": {"type": role, "index": int(index_text)}, "environment": "cloud"}


def export(environ: MutableMapping[str, str]) -> bool:
    """Set TF_CONFIG in `environ` for a JobSet pod that has none; returns whether it was set.

    An existing TF_CONFIG (the v1 operator's, or the local backend's) is kept as it is.
    """
    if environ.get("TF_CONFIG") or JOBSET_NAME not in environ:
        return False
    config = from_jobset(environ)
    if config is None:
        return False
    environ["TF_CONFIG"] = json.dumps(config)
    return True


def main() -> int:
    """Print the TF_CONFIG this environment gives (nothing with one task); returns the exit code."""
    config = from_jobset(os.environ) if JOBSET_NAME in os.environ else None
    print(json.dumps(config, indent=2) if config else "no TF_CONFIG: not a JobSet pod, or one task in total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
