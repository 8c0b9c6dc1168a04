"""Write-time validation against the official Kubernetes JSON schemas (from kubernetes-validate).

kubernetes_validate.validate() reloads the 1.3 MB definitions file on every call (12-25 ms per object);
here the definitions are loaded once per process and a validator is compiled once per kind, which
brings one object down to about a millisecond. The strict schemas are used, so an unknown field is
rejected as kubectl's default ``--validate=strict`` would have it rejected by a real API server.
A few semantic rules the schemas cannot express (name format, selector matches template labels,
container images, base64 Secret data) are checked here too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

from sandbox.kubeapi.errors import ApiError
from sandbox.kubeapi.resources import ResourceType
from sandbox.kubeapi.version import SCHEMA_VERSION

__all__ = ["validate_object", "check_name"]

_SCHEMA_DIR = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{SCHEMA_VERSION}-local-strict"
_lock = threading.Lock()
_registry: Registry | None = None
_validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _validator(rtype: ResourceType) -> jsonschema.protocols.Validator:
    global _registry
    key = (rtype.api_version, rtype.kind)
    with _lock:
        validator = _validators.get(key)
        if validator is None:
            if _registry is None:
                definitions = json.loads((_SCHEMA_DIR / "_definitions.json").read_text())
                _registry = Resource.from_contents(definitions) @ Registry()
            group = rtype.group.split(".")[0]
            suffix = f"{group}-{rtype.version}" if group else rtype.version
            schema = json.loads((_SCHEMA_DIR / f"{rtype.kind.lower()}-{suffix}.json").read_text())
            validator = jsonschema.Draft202012Validator(schema, registry=_registry)
            _validators[key] = validator
        return validator


def _field(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _cause(error: jsonschema.ValidationError) -> tuple[str, str, str]:
    where = _field(error.absolute_path)
    if error.validator == "required":
        missing = re.match(r"'([^']+)'", error.message)
        name = missing.group(1) if missing else "?"
        return "FieldValueRequired", f"{where}.{name}" if where else name, "Required value"
    if error.validator == "additionalProperties":
        unknown = re.findall(r"'([^']+)'", error.message.split("(")[-1])
        name = unknown[0] if unknown else "?"
        return "FieldValueInvalid", f"{where}.{name}" if where else name, "unknown field, not declared in schema"
    if error.validator in ("type", "enum"):
        return "FieldValueInvalid", where, f"Invalid value: {json.dumps(error.instance)[:80]}: {error.message}"
    return "FieldValueInvalid", where, error.message


def _name_causes(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    name = (obj.get("metadata") or {}).get("name") or ""
    if not name:
        return [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")]
    if not _NAME.match(name) or len(name) > 253:
        return [("FieldValueInvalid", "metadata.name",
                 f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                 "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character")]
    return []


def check_name(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Raise ``ApiError`` 422 if ``obj``'s name is missing or not a DNS subdomain (the per-copy check of
    a bulk seed, whose shape was validated once)."""
    causes = _name_causes(obj)
    if causes:
        raise ApiError.invalid(rtype.qualified_kind, (obj.get("metadata") or {}).get("name") or "", rtype.group,
                               rtype.kind, causes)


def validate_object(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Raise ``ApiError`` 422 Invalid (naming the fields) if ``obj`` does not fit its official schema."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name") or ""
    causes = _name_causes(obj)
    if rtype.metrics:
        from sandbox.kubeapi.metrics import check_usage

        causes.extend(check_usage(obj))
    if rtype.schema:
        errors = sorted(_validator(rtype).iter_errors(obj), key=lambda e: list(e.absolute_path))
        causes.extend(_cause(e) for e in errors[:10])
    if rtype.kind in ("Deployment", "ReplicaSet") and not causes:
        selector = (obj["spec"].get("selector") or {}).get("matchLabels") or {}
        labels = ((obj["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in selector.items()):
            causes.append(("FieldValueInvalid", "spec.template.metadata.labels",
                           f"Invalid value: {json.dumps(labels)}: `selector` does not match template `labels`"))
    pod_spec, where = (obj.get("spec"), "spec") if rtype.kind == "Pod" else (
        ((obj.get("spec") or {}).get("template") or {}).get("spec"), "spec.template.spec")
    if rtype.kind in ("Pod", "Deployment", "ReplicaSet") and isinstance(pod_spec, dict) and not causes:
        for n, container in enumerate(pod_spec.get("containers") or []):
            if not container.get("image"):
                causes.append(("FieldValueRequired", f"{where}.containers[{n}].image", "Required value"))
    if rtype.kind == "Secret" and not causes:
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(value or "", validate=True)
            except (binascii.Error, ValueError, TypeError):
                causes.append(("FieldValueInvalid", f"data[{key}]", "Invalid value: not base64-encoded"))
    if causes:
        raise ApiError.invalid(rtype.qualified_kind, name, rtype.group, rtype.kind, causes)
