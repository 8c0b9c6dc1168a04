"""events.k8s.io/v1: a second view of the core/v1 events, as every current API server serves it.

Both versions are stored as one object (the internal Event); this module converts between the two
wire shapes the way kubernetes ``pkg/apis/events/v1/conversion.go`` does, and maps the view's field
selector labels onto the core ones (``regarding.*`` is ``involvedObject.*``, ``reportingController``
is ``reportingComponent``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["from_core", "to_core", "core_field_label"]

# (events.k8s.io/v1 name, core/v1 name), in the v1 type's field order.
_RENAMED = (("reportingController", "reportingComponent"), ("regarding", "involvedObject"),
            ("note", "message"), ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
            ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"))
_ORDER = ("metadata", "eventTime", "series", "reportingController", "reportingInstance", "action", "reason",
          "regarding", "related", "note", "type", "deprecatedSource", "deprecatedFirstTimestamp",
          "deprecatedLastTimestamp", "deprecatedCount")
_OMITTED_WHEN_EMPTY = ("series", "reportingController", "reportingInstance", "action", "reason", "related", "note",
                       "type", "deprecatedCount")


def from_core(event: dict[str, Any]) -> dict[str, Any]:
    """The events.k8s.io/v1 shape of a stored core/v1 Event."""
    names = dict((core, v1) for v1, core in _RENAMED)
    converted = {names.get(k, k): v for k, v in event.items() if k not in ("apiVersion", "kind")}
    converted.setdefault("eventTime", None)
    converted.setdefault("deprecatedSource", {})
    converted.setdefault("deprecatedFirstTimestamp", None)
    converted.setdefault("deprecatedLastTimestamp", None)
    body = {"kind": "Event", "apiVersion": "events.k8s.io/v1"}
    for key in _ORDER:
        if key in converted and not (key in _OMITTED_WHEN_EMPTY and converted[key] in (None, "", 0, [], {})):
            body[key] = converted[key]
    return body


def to_core(event: dict[str, Any]) -> dict[str, Any]:
    """The core/v1 Event an events.k8s.io/v1 object is stored as."""
    names = dict(_RENAMED)
    converted = {names.get(k, k): v for k, v in event.items() if k not in ("apiVersion", "kind")}
    return {"apiVersion": "v1", "kind": "Event", **converted}


def core_field_label(label: str) -> str:
    """The core/v1 field selector label of an events.k8s.io/v1 one."""
    if label.startswith("regarding."):
        return "involvedObject." + label.removeprefix("regarding.")
    return "reportingComponent" if label == "reportingController" else label
