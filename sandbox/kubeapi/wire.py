"""What the real API server's JSON always holds, and what it leaves out, for the kinds the runbook reads.

The API types are Go structs: an ``int32`` with ``omitempty`` that is 0 is absent from the JSON, a
plain struct is always written (``lastState: {}``), a ``metav1.Time`` that is zero is written as
``null``. The store applies these rules to every object it keeps, so whatever a seed, a drill or a
``kubectl patch`` writes, clients read what a real cluster would send:

- Deployment status counters and ReplicaSet/HPA counters other than the always-present ones are
  omitted when 0 (``availableReplicas`` is absent on a deployment with no available pod);
- every container status has ``state``, ``lastState`` (``{}`` when empty), ``ready``,
  ``restartCount``, ``image`` and ``imageID``;
- core/v1 Events have ``source``, ``reportingComponent``, ``reportingInstance``, and
  ``firstTimestamp``/``lastTimestamp``/``eventTime`` (``null`` when unset); ``count`` is omitted
  when 0 (new-API events have none).

``before_validation`` drops the zero counters and fills container statuses; ``after_validation``
fills the rest of what is always present (the ``null`` times the schemas leave out).
"""

from __future__ import annotations

from typing import Any

__all__ = ["before_validation", "after_validation"]

_OMITEMPTY_STATUS = {
    "Deployment": ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                   "unavailableReplicas", "terminatingReplicas", "collisionCount"),
    "ReplicaSet": ("fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration",
                   "terminatingReplicas"),
    "HorizontalPodAutoscaler": ("observedGeneration", "currentReplicas", "lastScaleTime"),
}
_ALWAYS_STATUS = {"ReplicaSet": {"replicas": 0}, "HorizontalPodAutoscaler": {"desiredReplicas": 0}}
_CONTAINER_STATUS = {"state": {}, "lastState": {}, "ready": False, "restartCount": 0, "image": "", "imageID": ""}
_EVENT = {"source": {}, "firstTimestamp": None, "lastTimestamp": None, "eventTime": None,
          "reportingComponent": "", "reportingInstance": ""}


def before_validation(kind: str, obj: dict[str, Any]) -> None:
    """Drop omitempty fields that are zero (and null times), fill container statuses, in place."""
    status = obj.get("status")
    if isinstance(status, dict):
        for name in _OMITEMPTY_STATUS.get(kind, ()):
            if name in status and status[name] in (0, None):
                del status[name]
        if kind == "Pod":
            for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
                for container in status.get(key) or []:
                    if isinstance(container, dict):
                        for name, zero in _CONTAINER_STATUS.items():
                            container.setdefault(name, zero if not isinstance(zero, dict) else {})
    if kind == "Event":
        if obj.get("count") in (0, None):
            obj.pop("count", None)
        for name in ("firstTimestamp", "lastTimestamp", "eventTime", "series"):
            if name in obj and obj[name] is None:
                del obj[name]


def after_validation(kind: str, obj: dict[str, Any]) -> None:
    """Fill the fields Go always serializes, in place."""
    status = obj.get("status")
    if isinstance(status, dict):
        for name, zero in _ALWAYS_STATUS.get(kind, {}).items():
            status.setdefault(name, zero)
    if kind == "Event":
        for name, zero in _EVENT.items():
            obj.setdefault(name, zero if not isinstance(zero, dict) else {})
