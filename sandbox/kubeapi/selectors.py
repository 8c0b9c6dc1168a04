"""Label selectors (``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``) and field selectors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandbox.kubeapi import eventsv1
from sandbox.kubeapi.errors import ApiError
from sandbox.kubeapi.resources import ResourceType

__all__ = ["parse_label_selector", "parse_field_selector"]

Predicate = Callable[[dict[str, Any]], bool]

_SET = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(in|notin)\s*\(([^)]*)\)|(==|=|!=)\s*([A-Za-z0-9._-]*))?\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside ``in (a,b)`` parentheses."""
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Callable[[dict[str, str]], bool]:
    m = _SET.match(text)
    if not m or (m.group(1) and (m.group(3) or m.group(5))):
        raise ApiError.bad_request(f"unable to parse requirement: invalid label selector: {text.strip()!r}")
    negate, key, set_op, values, op, value = m.groups()
    if negate:
        return lambda labels: key not in labels
    if set_op:
        members = {v.strip() for v in values.split(",") if v.strip()}
        if set_op == "in":
            return lambda labels: labels.get(key) in members
        return lambda labels: labels.get(key) not in members
    if op in ("=", "=="):
        return lambda labels: labels.get(key) == value
    if op == "!=":
        return lambda labels: labels.get(key) != value
    return lambda labels: key in labels


def parse_label_selector(selector: str | None) -> Predicate:
    """A predicate over objects for a ``labelSelector`` query parameter (empty matches everything)."""
    requirements = [_requirement(p) for p in _split(selector or "")]

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r(labels) for r in requirements)

    return matches


def _lookup(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flag(path: str) -> Callable[[dict[str, Any]], str]:
    """A boolean field that selects as "true"/"false", "false" when absent (``fmt.Sprint`` of a Go bool)."""
    return lambda obj: _lookup(obj, path) or "false"


# Selectable values that are not the field's own JSON text (kubernetes pkg/registry/*/strategy.go).
_COMPUTED: dict[tuple[str, str], Callable[[dict[str, Any]], str]] = {
    ("Pod", "spec.hostNetwork"): _flag("spec.hostNetwork"),
    ("Pod", "status.podIPs"): lambda obj: ",".join(
        str(ip.get("ip", "")) for ip in (obj.get("status") or {}).get("podIPs") or [] if isinstance(ip, dict)),
    ("Node", "spec.unschedulable"): _flag("spec.unschedulable"),
    ("Event", "source"): lambda obj: _lookup(obj, "source.component") or _lookup(obj, "reportingComponent"),
}
_DEFAULT_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


def _never(obj: dict[str, Any]) -> str | None:
    return None


def parse_field_selector(selector: str | None, rtype: ResourceType) -> Predicate:
    """A predicate for a ``fieldSelector`` on ``rtype``'s objects, with the real API server's 400s.

    Kinds with their own selectable fields answer ``field label not supported: <label>``; the others
    apimachinery's default message. metrics.k8s.io rejects nothing: a term on another field matches
    no object. Views (events.k8s.io) map their labels onto the stored kind's.
    """
    checks = []
    for part in _split(selector or ""):
        m = re.match(r"^\s*([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise ApiError.bad_request(f"invalid field selector: {part.strip()!r}")
        label, op, value = m.groups()
        if rtype.metrics and label not in _DEFAULT_FIELDS:
            checks.append((_never, op == "!=", value))
            continue
        if label not in (rtype.field_selectors or _DEFAULT_FIELDS):
            if rtype.field_selectors:
                raise ApiError.bad_request(f"field label not supported: {label}")
            raise ApiError.bad_request(f'"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        if rtype.storage:
            label = eventsv1.core_field_label(label)
        field = _COMPUTED.get((rtype.kind, label)) or (lambda obj, path=label: _lookup(obj, path))
        checks.append((field, op == "!=", value))

    def matches(obj: dict[str, Any]) -> bool:
        for field, negate, value in checks:
            actual = field(obj)
            if actual is None or (actual == value) == negate:
                return False
        return True

    return matches
