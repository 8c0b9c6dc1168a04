"""The four PATCH flavours, chosen by Content-Type: JSON merge, strategic merge, JSON patch, apply.

Strategic merge follows the Kubernetes rules kubectl and the Python client rely on: lists of
containers, env, volumes, ports, conditions... are merged by their merge key, ``$patch: delete`` and
``$patch: replace`` are honoured, ``$setElementOrder/...``, ``$retainKeys`` directives are dropped and
``$deleteFromPrimitiveList/<field>`` removes values. Server-side apply is treated as a strategic merge.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from sandbox.kubeapi.errors import ApiError

__all__ = ["PATCH_TYPES", "apply_patch", "merge_patch", "strategic_merge", "json_patch"]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)

# Field name -> merge key of its list elements, as the Kubernetes types declare them.
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "hostAliases": "ip", "conditions": "type", "ownerReferences": "uid", "taints": "key",
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name", "addresses": "type",
}
_PRIMITIVE_MERGE_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _list_merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":  # container ports merge on containerPort, service ports on port
        sample = next((i for i in items if isinstance(i, dict) and "$patch" not in i), None) or {}
        return "containerPort" if "containerPort" in sample else "port"
    return _MERGE_KEYS.get(field)


def _merge_list(field: str, original: list[Any], patch: list[Any]) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [i for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if field in _PRIMITIVE_MERGE_LISTS:
        return list(original) + [v for v in patch if v not in original]
    key = _list_merge_key(field, original + patch)
    if key is None:
        return copy.deepcopy(patch)
    result = [copy.deepcopy(i) for i in original]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise ApiError.bad_request(f"map: {item!r} does not contain declared merge key: {key}")
        index = next((n for n, o in enumerate(result) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(strategic_merge({}, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge patch of ``patch`` onto ``target`` (neither is modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field) or [] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        elif isinstance(value, list):
            result[key] = [strategic_merge({}, i) if isinstance(i, dict) else i
                           for i in value if not (isinstance(i, dict) and "$patch" in i)]
        else:
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError.bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    for part in parts[:-1]:
        try:
            doc = doc[int(part)] if isinstance(doc, list) else doc[part]
        except (KeyError, IndexError, ValueError):
            raise ApiError(422, "Invalid", f"jsonpatch: path /{'/'.join(parts)} does not exist") from None
    return doc


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts), parts[-1]
    if isinstance(parent, list):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        parent[last] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent, last = _parent(doc, parts), parts[-1]
    try:
        return parent.pop(int(last) if isinstance(parent, list) else last)
    except (KeyError, IndexError, ValueError):
        raise ApiError(422, "Invalid", f"jsonpatch remove operation does not apply: doc is missing path: /{'/'.join(parts)}") from None


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent, last = _parent(doc, parts), parts[-1]
    try:
        return parent[int(last)] if isinstance(parent, list) else parent[last]
    except (KeyError, IndexError, ValueError):
        raise ApiError(422, "Invalid", f"jsonpatch: path /{'/'.join(parts)} does not exist") from None


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise ApiError.bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            source = _pointer(op["from"])
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise ApiError(422, "Invalid", f"testing value /{'/'.join(parts)} failed")
        else:
            raise ApiError.bad_request(f"Unexpected kind: {kind!r}")
    return doc


def parse_body(content_type: str, body: bytes) -> Any:
    """Decode a patch body: YAML for apply patches, JSON for the others."""
    try:
        if content_type == APPLY_PATCH:
            return yaml.safe_load(body.decode())
        return json.loads(body)
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError.bad_request(f"error decoding patch: {exc}") from None


def apply_patch(content_type: str, target: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The object ``target`` becomes after the PATCH request body of type ``content_type``."""
    patch = parse_body(content_type, body)
    if content_type == JSON_PATCH:
        result = json_patch(target, patch)
    elif not isinstance(patch, dict):
        raise ApiError.bad_request("patch body must be a JSON object")
    elif content_type == MERGE_PATCH:
        result = merge_patch(target, patch)
    else:
        result = strategic_merge(target, patch)
    if not isinstance(result, dict):
        raise ApiError.bad_request("patch did not produce an object")
    return result
