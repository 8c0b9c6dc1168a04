"""Legacy discovery documents: /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version>.

kubectl 1.32 asks for aggregated discovery first and falls back to these when the reply is plain
``application/json``. What kubectl needs is in them: ``groupVersion`` "v1" for core, a real
``namespaced``, ``singularName`` and ``verbs`` for every resource, short names on resources only.
"""

from __future__ import annotations

from typing import Any

from sandbox.kubeapi.resources import RESOURCES, group_versions

__all__ = ["api_versions", "api_group_list", "api_group", "api_resource_list"]


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group(group: str) -> dict[str, Any] | None:
    versions = group_versions().get(group)
    if not group or versions is None:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> dict[str, Any]:
    groups = [api_group(g) for g in group_versions() if g]
    for g in groups:
        g.pop("kind")
        g.pop("apiVersion")
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    served = [r for r in RESOURCES if r.group == group and r.version == version]
    if not served:
        return None
    entries: list[dict[str, Any]] = []
    for r in served:
        entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                                 "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        entries.append(entry)
        for s in r.subresources:
            sub: dict[str, Any] = {"name": f"{r.plural}/{s.name}", "singularName": "", "namespaced": r.namespaced,
                                   "kind": s.kind, "verbs": list(s.verbs)}
            if s.group is not None:
                sub["group"], sub["version"] = s.group, s.version
            entries.append(sub)
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": entries}
