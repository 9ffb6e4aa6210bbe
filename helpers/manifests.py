"""Load, render and label the raw YAML templates in `manifests/`.

The templates are the single source of truth for what runs; both backends render them
here. `${name}` placeholders are filled with `string.Template`; a placeholder with no value
is an error rather than an empty string, so a typo never reaches a cluster.
"""

from __future__ import annotations

import pathlib
import string
from collections.abc import Mapping
from typing import Any

import yaml

from helpers import errors

MANIFESTS_DIR = pathlib.Path(__file__).resolve().parent.parent / "manifests"
PART_OF = "kubeflow-mnist"

Resource = dict[str, Any]


def template_path(name: str, *, manifests_dir: pathlib.Path = MANIFESTS_DIR) -> pathlib.Path:
    """The template file for `name` (e.g. "tfjob" → manifests/tfjob.yaml); raises ConfigError
    when there is none."""
    path = manifests_dir / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in manifests_dir.glob("*.yaml"))
        raise errors.ConfigError("manifest", name, f"no such template in {manifests_dir}; known: {known}")
    return path


def render_text(text: str, values: Mapping[str, object], *, source: str = "template") -> str:
    """Fill `${name}` placeholders in `text`; raises ConfigError naming a placeholder with no value."""
    try:
        return string.Template(text).substitute({key: str(value) for key, value in values.items()})
    except KeyError as e:
        raise errors.ConfigError(str(e.args[0]), None, f"placeholder in {source} has no value") from e
    except ValueError as e:
        raise errors.ConfigError("manifest", source, f"malformed placeholder: {e}") from e


def add_common_labels(resource: Resource, *, app_name: str, component: str) -> Resource:
    """Put the `app.kubernetes.io/*` labels on a resource (and on its pod templates)."""
    labels = {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/name": app_name,
        "app.kubernetes.io/component": component,
    }
    metadata = resource.setdefault("metadata", {})
    metadata["labels"] = {**labels, **(metadata.get("labels") or {})}
    for template in _pod_templates(resource):
        template_metadata = template.setdefault("metadata", {})
        template_metadata["labels"] = {**labels, **(template_metadata.get("labels") or {})}
    return resource


def _pod_templates(resource: Resource) -> list[dict[str, Any]]:
    spec = resource.get("spec") or {}
    if "template" in spec:
        return [spec["template"]]
    replica_specs = spec.get("tfReplicaSpecs") or {}
    return [replica["template"] for replica in replica_specs.values() if "template" in replica]


def render(
    name: str,
    values: Mapping[str, object],
    *,
    app_name: str,
    manifests_dir: pathlib.Path = MANIFESTS_DIR,
) -> list[Resource]:
    """Render template `name` with `values` into a list of resources carrying common labels.

    The component label is the template's name. Raises ConfigError for a missing template,
    a placeholder without a value or YAML that does not parse into mappings.
    """
    path = template_path(name, manifests_dir=manifests_dir)
    text = render_text(path.read_text(), values, source=path.name)
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as e:
        raise errors.ConfigError("manifest", name, f"rendered YAML does not parse: {e}") from e
    for document in documents:
        if not isinstance(document, dict) or "kind" not in document:
            raise errors.ConfigError("manifest", name, "every document must be a mapping with a 'kind'")
    return [add_common_labels(_unshared(document), app_name=app_name, component=name) for document in documents]


def _unshared(value: Any) -> Any:
    """A copy in which no two places share a mapping or list: a YAML alias (`*replica`) loads as the very
    object its anchor made, and a change to one replica's pod must not change another's."""
    if isinstance(value, dict):
        return {key: _unshared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshared(item) for item in value]
    return value


def find(resources: list[Resource], kind: str, name: str | None = None) -> Resource:
    """The first resource of `kind` (and `name`, when given); raises ConfigError when absent."""
    for resource in resources:
        if resource.get("kind") == kind and (name is None or resource["metadata"].get("name") == name):
            return resource
    raise errors.ConfigError("manifest", kind if name is None else f"{kind}/{name}", "not found in rendered resources")


def http_port(service: Resource) -> dict[str, Any]:
    """The Service port a browser or REST client uses: the first named http*, else the first one."""
    ports = service["spec"]["ports"]
    return next((port for port in ports if str(port.get("name", "")).startswith("http")), ports[0])
