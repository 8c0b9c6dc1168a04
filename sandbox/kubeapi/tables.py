"""Server-side printing: the ``meta.k8s.io/v1`` Table kubectl asks for, for the kinds on-call reads.

``kubectl get`` asks for ``as=Table``; without it kubectl can print only NAME and AGE. The columns
follow the real API server's for pods, deployments, replica sets, nodes, events and HPAs; other
kinds are answered with the plain list.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

__all__ = ["wants_table", "to_table"]

Row = Callable[[dict[str, Any]], list[Any]]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    seconds = int((datetime.now(timezone.utc) - datetime.fromisoformat(timestamp.replace("Z", "+00:00"))).total_seconds())
    seconds = max(seconds, 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


def _pod(obj: dict[str, Any]) -> list[Any]:
    status = obj.get("status") or {}
    containers = obj["spec"].get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(s.get("restartCount", 0) for s in statuses)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for s in statuses:
        state = s.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
    if obj["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return [obj["metadata"]["name"], f"{ready}/{len(containers)}", reason, restarts,
            _age(obj["metadata"].get("creationTimestamp")), status.get("podIP") or "<none>",
            obj["spec"].get("nodeName") or "<none>"]


def _deployment(obj: dict[str, Any]) -> list[Any]:
    status = obj.get("status") or {}
    containers = obj["spec"]["template"]["spec"]["containers"]
    return [obj["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{obj['spec'].get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
            _age(obj["metadata"].get("creationTimestamp")), ",".join(c["name"] for c in containers),
            ",".join(c.get("image", "") for c in containers)]


def _replica_set(obj: dict[str, Any]) -> list[Any]:
    status = obj.get("status") or {}
    return [obj["metadata"]["name"], obj["spec"].get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), _age(obj["metadata"].get("creationTimestamp"))]


def _node(obj: dict[str, Any]) -> list[Any]:
    conditions = {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}
    state = {"True": "Ready", "False": "NotReady"}.get(conditions.get("Ready", ""), "Unknown")
    if (obj.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (obj["metadata"].get("labels") or {}) if k.startswith("node-role.kubernetes.io/"))
    info = (obj.get("status") or {}).get("nodeInfo") or {}
    return [obj["metadata"]["name"], state, ",".join(roles) or "<none>", _age(obj["metadata"].get("creationTimestamp")),
            info.get("kubeletVersion", "")]


def _event(obj: dict[str, Any]) -> list[Any]:
    involved = obj.get("involvedObject") or {}
    return [_age(obj.get("lastTimestamp") or obj.get("eventTime") or obj["metadata"].get("creationTimestamp")),
            obj.get("type", ""), obj.get("reason", ""), f"{(involved.get('kind') or '').lower()}/{involved.get('name', '')}",
            obj.get("message", "")]


def _hpa(obj: dict[str, Any]) -> list[Any]:
    spec, status = obj["spec"], obj.get("status") or {}
    targets = []
    current = {m.get("resource", {}).get("name"): m.get("resource", {}).get("current", {}) for m in status.get("currentMetrics") or []}
    for metric in spec.get("metrics") or []:
        resource = metric.get("resource") or {}
        target = (resource.get("target") or {}).get("averageUtilization")
        now = current.get(resource.get("name"), {}).get("averageUtilization")
        targets.append(f"{resource.get('name')}: {'<unknown>' if now is None else f'{now}%'}/{target}%")
    ref = spec["scaleTargetRef"]
    return [obj["metadata"]["name"], f"{ref['kind']}/{ref['name']}", ", ".join(targets) or "<none>",
            spec.get("minReplicas", 1), spec["maxReplicas"], status.get("currentReplicas", 0),
            _age(obj["metadata"].get("creationTimestamp"))]


def _columns(*specs: str) -> list[dict[str, Any]]:
    columns = []
    for spec in specs:
        name, kind, *wide = spec.split(":")
        columns.append({"name": name, "type": kind, "format": "name" if name == "Name" else "", "description": "",
                        "priority": 1 if wide else 0})
    return columns


_TABLES: dict[str, tuple[list[dict[str, Any]], Row]] = {
    "Pod": (_columns("Name:string", "Ready:string", "Status:string", "Restarts:integer", "Age:string", "IP:string:wide",
                     "Node:string:wide"), _pod),
    "Deployment": (_columns("Name:string", "Ready:string", "Up-to-date:integer", "Available:integer", "Age:string",
                            "Containers:string:wide", "Images:string:wide"), _deployment),
    "ReplicaSet": (_columns("Name:string", "Desired:integer", "Current:integer", "Ready:integer", "Age:string"), _replica_set),
    "Node": (_columns("Name:string", "Status:string", "Roles:string", "Age:string", "Version:string"), _node),
    "Event": (_columns("Last Seen:string", "Type:string", "Reason:string", "Object:string", "Message:string"), _event),
    "HorizontalPodAutoscaler": (_columns("Name:string", "Reference:string", "Targets:string", "MinPods:integer",
                                         "MaxPods:integer", "Replicas:integer", "Age:string"), _hpa),
}


def to_table(kind: str, items: list[dict[str, Any]], list_metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The Table of ``items`` of ``kind``, or None when this kind is printed from the plain list."""
    if kind not in _TABLES:
        return None
    columns, row = _TABLES[kind]
    rows = [{"cells": row(obj), "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                           "metadata": obj["metadata"]}} for obj in items]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_metadata,
            "columnDefinitions": columns, "rows": rows}
