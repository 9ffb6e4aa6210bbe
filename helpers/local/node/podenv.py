"""A container's environment as the kubelet builds it: envFrom, then env with the downward API resolved.

ConfigMaps and Secrets are read through the callables the caller passes (the node agent reads them
from the API server); a missing optional source is skipped, a missing required one raises
ConfigError, which the node reports as the kubelet's CreateContainerConfigError.
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from helpers import errors

# name -> data (Secret values already base64-decoded); None when the object does not exist.
SourceReader = Callable[[str, str], Mapping[str, str] | None]

_SUFFIXES: dict[str, int | decimal.Decimal] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": decimal.Decimal("1e-9"), "u": decimal.Decimal("1e-6"), "m": decimal.Decimal("1e-3"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_LABEL_PATH = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


def quantity(text: str | int | float) -> decimal.Decimal:
    """A Kubernetes quantity ("500m", "2Gi", "1") as a number; raises ConfigError for anything else."""
    match = _QUANTITY.match(str(text))
    if not match:
        raise errors.ConfigError("quantity", text, "is not a Kubernetes quantity")
    return decimal.Decimal(match.group(1)) * _SUFFIXES.get(match.group(2) or "", 1)


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """A `fieldRef.fieldPath` of the pod (status.podIP and hostIP must already be in `pod`)."""
    metadata, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.hostIPs": ",".join(ip["ip"] for ip in status.get("hostIPs") or []) or status.get("hostIP"),
        "status.podIP": status.get("podIP"),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs") or []) or status.get("podIP"),
    }
    if path in simple:
        return str(simple[path] or "")
    match = _LABEL_PATH.match(path)
    if match:
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        values = metadata.get(path.split(".")[1]) or {}
        return "\n".join(f'{key}="{value}"' for key, value in sorted(values.items()))
    raise errors.ConfigError("fieldRef.fieldPath", path, "is not a field the downward API offers")


def resource_value(
    container: Mapping[str, Any], reference: Mapping[str, Any], *, node_allocatable: Mapping[str, str]
) -> str:
    """A `resourceFieldRef`: the container's limit or request, divided and rounded up like the kubelet."""
    kind, resource = str(reference["resource"]).split(".", 1)
    value = (container.get("resources", {}).get(kind) or {}).get(resource)
    if value is None and kind == "limits":
        value = node_allocatable.get(resource)
    if value is None:
        return "0"
    divisor = quantity(reference.get("divisor") or "1")
    return str(math.ceil(quantity(value) / divisor))


def _source(reference: Mapping[str, Any], reader: SourceReader, namespace: str, what: str) -> Mapping[str, str] | None:
    data = reader(namespace, reference["name"])
    if data is None and not reference.get("optional"):
        raise errors.ConfigError(what, reference["name"], f"{what} not found in namespace {namespace}")
    return data


def resolve(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    secrets: SourceReader,
    config_maps: SourceReader,
    node_allocatable: Mapping[str, str],
) -> list[dict[str, str]]:
    """The container's variables in the kubelet's order as plain `{"name", "value"}` entries.

    `$(VAR)` references are left for the container translation to expand. Raises ConfigError for
    a required ConfigMap, Secret or key that does not exist.
    """
    namespace = pod["metadata"]["namespace"]
    resolved: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = _source(source["configMapRef"], config_maps, namespace, "configmap")
        else:
            data = _source(source["secretRef"], secrets, namespace, "secret")
        for key, value in (data or {}).items():
            resolved[prefix + key] = value
    for variable in container.get("env") or []:
        source = variable.get("valueFrom")
        if not source:
            resolved[variable["name"]] = str(variable.get("value", ""))
            continue
        if "fieldRef" in source:
            resolved[variable["name"]] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            resolved[variable["name"]] = resource_value(
                container, source["resourceFieldRef"], node_allocatable=node_allocatable
            )
        else:
            key_ref = source.get("secretKeyRef") or source.get("configMapKeyRef") or {}
            reader, what = (secrets, "secret") if "secretKeyRef" in source else (config_maps, "configmap")
            data = _source(key_ref, reader, namespace, what)
            if data is not None and key_ref["key"] in data:
                resolved[variable["name"]] = data[key_ref["key"]]
            elif not key_ref.get("optional"):
                raise errors.ConfigError(what, f"{key_ref['name']}/{key_ref['key']}", "key not found")
    return [{"name": name, "value": value} for name, value in resolved.items()]
