"""RBAC authorization evaluated from the Role/ClusterRole/(Cluster)RoleBinding objects in the store.

The rules are Kubernetes': ClusterRoleBindings grant everywhere; RoleBindings grant in their own
namespace, to a Role of that namespace or a ClusterRole; a rule matches on verbs, apiGroups,
resources (``pods/log`` for subresources, ``*``), resourceNames (which never match a request
without a name, such as list) or nonResourceURLs (exact, or a prefix ending in ``*``). Members
of ``system:masters`` may do everything; any authenticated user may read discovery, as the
built-in ``system:discovery`` ClusterRole allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.kubeapi.store import ObjectStore
from sandbox.kubeapi import resources

__all__ = ["User", "Request", "authorize", "forbidden_message"]

_DISCOVERY = ("/api", "/api/*", "/apis", "/apis/*", "/version", "/version/", "/openapi", "/openapi/*",
              "/healthz", "/livez", "/readyz")
_ROLE = resources.by_kind("rbac.authorization.k8s.io/v1", "Role")
_CLUSTER_ROLE = resources.by_kind("rbac.authorization.k8s.io/v1", "ClusterRole")
_BINDING = resources.by_kind("rbac.authorization.k8s.io/v1", "RoleBinding")
_CLUSTER_BINDING = resources.by_kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")


@dataclass(frozen=True)
class User:
    """An authenticated identity: the user name a bearer token maps to, and its groups."""

    name: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Request:
    """What is being asked: a resource request (group/resource/subresource) or a non-resource path."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # set, and resource empty, for non-resource requests

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


def _path_matches(patterns: list[str], path: str) -> bool:
    return any(p == "*" or p == path or (p.endswith("*") and path.startswith(p[:-1])) for p in patterns)


def _rule_allows(rule: dict[str, Any], request: Request) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and request.verb not in verbs:
        return False
    if not request.is_resource:
        return _path_matches(rule.get("nonResourceURLs") or [], request.path)
    groups = rule.get("apiGroups") or []
    if "*" not in groups and request.group not in groups:
        return False
    wanted = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    rule_resources = rule.get("resources") or []
    if not ("*" in rule_resources or wanted in rule_resources
            or (request.subresource and f"*/{request.subresource}" in rule_resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or request.name in names


def _subject_matches(subject: dict[str, Any], user: User, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        return user.name == f"system:serviceaccount:{subject.get('namespace') or binding_namespace}:{name}"
    return False


def authorize(store: ObjectStore, user: User, request: Request) -> bool:
    """Whether ``user`` may perform ``request`` under the RBAC objects currently stored."""
    if "system:masters" in user.groups:
        return True
    if not request.is_resource and _path_matches(list(_DISCOVERY), request.path):
        return True
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in store.items(_ROLE, None)[0]}
    cluster_roles = {r["metadata"]["name"]: r for r in store.items(_CLUSTER_ROLE, None)[0]}
    bindings = [(b, "") for b in store.items(_CLUSTER_BINDING, None)[0]]
    if request.namespace:
        bindings += [(b, request.namespace) for b in store.items(_BINDING, request.namespace)[0]]
    for binding, namespace in bindings:
        if not any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
            continue
        ref = binding["roleRef"]
        role = cluster_roles.get(ref["name"]) if ref["kind"] == "ClusterRole" else roles.get((namespace, ref["name"]))
        if role and any(_rule_allows(rule, request) for rule in role.get("rules") or []):
            return True
    return False


def forbidden_message(user: User, request: Request) -> str:
    """The API server's wording of a denial."""
    if not request.is_resource:
        return f'forbidden: User "{user.name}" cannot {request.verb} path "{request.path}"'
    wanted = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    qualified = f"{request.resource}.{request.group}" if request.group else request.resource
    subject = f'{qualified} "{request.name}"' if request.name else qualified
    scope = f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
    return (f'{subject} is forbidden: User "{user.name}" cannot {request.verb} resource "{wanted}" '
            f'in API group "{request.group}" {scope}')
