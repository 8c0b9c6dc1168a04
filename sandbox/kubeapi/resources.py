"""The resource types the fake API serves: their group, version, kind, scope, verbs and subresources.

One table drives URL routing, discovery documents, the in-process store's keys and RBAC names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ResourceType", "Subresource", "RESOURCES", "by_kind", "by_path", "group_versions", "stored_as"]

_READ = ("get", "list", "watch")
_ALL = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as ``pods/log`` or ``deployments/scale`` and the verbs it answers."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str | None = None  # set when the subresource's kind lives in another group (Scale)
    version: str | None = None


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the URL space and what discovery says about it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = _ALL
    short_names: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    schema: bool = True  # False for kinds the official JSON schemas do not carry (metrics.k8s.io)
    # The fields a fieldSelector may name, metadata.* included, for kinds that register their own
    # conversion (kubernetes pkg/apis/*/v1/conversion.go); empty means apimachinery's default,
    # metadata.name and metadata.namespace only, with its own message.
    field_selectors: frozenset[str] = field(default_factory=frozenset)
    generation: bool = False  # the kind's strategy sets metadata.generation (workloads, HPA, Ingress)
    storage: tuple[str, str, str] | None = None  # (group, version, plural) this view is stored as

    @property
    def metrics(self) -> bool:
        """Served by metrics-server (metrics.k8s.io): computed on read, filtered by name only."""
        return self.group == "metrics.k8s.io"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """``deployments.apps`` or ``pods``: how error messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """``Deployment.apps`` or ``Pod``: how validation errors name the kind."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, ("get", "patch", "update"))


_META = frozenset({"metadata.name", "metadata.namespace"})
_EVENT_FIELDS = _META | {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                         "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                         "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}
# The sandbox-admin identity stands in for metrics-server, which a real cluster lets nobody write.
_METRICS_VERBS = ("create", "delete", "get", "list", "patch", "update")

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", False, ("create", "delete", "get", "list", "patch", "update", "watch"),
                 ("ns",), (_status("Namespace"),), field_selectors=frozenset({"metadata.name", "status.phase"})),
    ResourceType("", "v1", "pods", "Pod", True, short_names=("po",),
                 subresources=(Subresource("log", "Pod", ("get",)), _status("Pod")),
                 field_selectors=_META | {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                          "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
                                          "status.podIPs", "status.nominatedNodeName"}),
    ResourceType("", "v1", "secrets", "Secret", True, field_selectors=_META | {"type"}),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",)),
    ResourceType("", "v1", "events", "Event", True, short_names=("ev",), field_selectors=_EVENT_FIELDS),
    ResourceType("", "v1", "nodes", "Node", False, short_names=("no",), subresources=(_status("Node"),),
                 field_selectors=frozenset({"metadata.name", "spec.unschedulable"})),
    ResourceType("", "v1", "services", "Service", True, short_names=("svc",), subresources=(_status("Service"),)),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    ResourceType("apps", "v1", "deployments", "Deployment", True, short_names=("deploy",),
                 subresources=(_status("Deployment"),
                               Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1")),
                 generation=True),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, short_names=("rs",),
                 subresources=(_status("ReplicaSet"),), field_selectors=_META | {"status.replicas"}, generation=True),
    ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True,
                 short_names=("hpa",), subresources=(_status("HorizontalPodAutoscaler"),), generation=True),
    ResourceType("events.k8s.io", "v1", "events", "Event", True, short_names=("ev",),
                 field_selectors=_META | {f"regarding.{f}" for f in ("kind", "namespace", "name", "uid", "apiVersion",
                                                                      "resourceVersion", "fieldPath")}
                 | {"reason", "reportingController", "type"},
                 storage=("", "v1", "events")),
    ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", True, short_names=("ing",),
                 subresources=(_status("Ingress"),), generation=True),
    ResourceType("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True, _METRICS_VERBS, schema=False),
    ResourceType("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False, _METRICS_VERBS, schema=False),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
)

_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}
_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}


def stored_as(rtype: ResourceType) -> ResourceType:
    """The resource type whose objects back ``rtype`` (itself, except for views such as events.k8s.io)."""
    return _BY_PATH[rtype.storage] if rtype.storage else rtype


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """The resource type of an object's ``apiVersion`` and ``kind``, or None if not served."""
    return _BY_KIND.get((api_version, kind))


def by_path(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource type served at ``/apis/<group>/<version>/<plural>`` (group "" for ``/api/v1``)."""
    return _BY_PATH.get((group, version, plural))


def group_versions() -> dict[str, list[str]]:
    """Every API group (\"\" for core) and its served versions, in table order."""
    groups: dict[str, list[str]] = {}
    for r in RESOURCES:
        versions = groups.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return groups
