"""The API server's object store: every object, keyed by resource type, namespace and name.

One lock guards everything; the resourceVersion is one monotonic counter. Stored objects are never
mutated in place (every write stores a fresh copy), so readers may serialize what they got after
the lock is released. ``apply``/``get``/``delete``/``list`` are the in-process seeding API the sandbox
uses (no authentication, but every write is validated against the official schema); the HTTP
handler uses ``create``/``replace``/``modify``/``remove``, which add the API's write semantics.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sandbox.kubeapi import resources
from sandbox.kubeapi.errors import ApiError
from sandbox.kubeapi.resources import ResourceType
from sandbox.kubeapi.validation import validate_object

__all__ = ["ObjectStore"]

_NAMESPACES = resources.by_kind("v1", "Namespace")
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rtype(api_version: str, kind: str) -> ResourceType:
    rtype = resources.by_kind(api_version, kind)
    if rtype is None:
        raise ApiError.bad_request(f"no kind {kind!r} is registered for version {api_version!r}")
    return rtype


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class ObjectStore:
    """Thread-safe in-memory objects with Kubernetes write semantics and schema validation."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._objects: dict[ResourceType, dict[Key, dict[str, Any]]] = {}
        self._resource_version = 0
        self._listeners: list = []

    def subscribe(self, listener) -> None:
        """Call ``listener(kind, old, new)`` after every write (under the store's re-entrant lock),
        as a controller would watch; the sandbox's rollout controller uses it."""
        self._listeners.append(listener)

    # -- the in-process seeding API -----------------------------------------------------------

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj`` or replace the stored object of the same kind, namespace and name (status
        included); returns a copy of what was stored. Raises ``ApiError`` 422 if it is invalid."""
        rtype = _rtype(obj.get("apiVersion", ""), obj.get("kind", ""))
        namespace = (obj.get("metadata") or {}).get("namespace", "") if rtype.namespaced else ""
        if rtype.namespaced and not namespace:
            namespace = "default"
        with self._lock:
            old = self._table(rtype).get((namespace, (obj.get("metadata") or {}).get("name", "")))
            stored = self._write(rtype, namespace, obj, old, keep_generation=True)
            return copy.deepcopy(stored)

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """A copy of the stored object, or None."""
        rtype = _rtype(api_version, kind)
        with self._lock:
            obj = self._table(rtype).get((namespace or "" if rtype.namespaced else "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """Delete the object (and, like the garbage collector, what it owns); return it, or None."""
        rtype = _rtype(api_version, kind)
        with self._lock:
            key = (namespace or "" if rtype.namespaced else "", name)
            if key not in self._table(rtype):
                return None
            return copy.deepcopy(self._delete(rtype, key))

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of the objects of a kind, in one namespace or all, sorted by namespace and name."""
        return copy.deepcopy(self.items(_rtype(api_version, kind), namespace)[0])

    # -- what the HTTP handler uses -----------------------------------------------------------

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._resource_version)

    def items(self, rtype: ResourceType, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
        """The stored objects (not copies: never mutate them) and the current resourceVersion."""
        with self._lock:
            table = self._table(rtype)
            keys = sorted(k for k in table if namespace is None or k[0] == namespace)
            return [table[k] for k in keys], str(self._resource_version)

    def read(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """The stored object (not a copy), or ``ApiError`` 404."""
        with self._lock:
            obj = self._table(rtype).get((namespace, name))
        if obj is None:
            raise ApiError.not_found(rtype.qualified, name, rtype.group, rtype.plural)
        return obj

    def create(self, rtype: ResourceType, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        """POST: a new object (409 AlreadyExists if the name is taken, 404 if the namespace is not there)."""
        metadata = obj.setdefault("metadata", {}) if isinstance(obj, dict) else None
        if metadata is None:
            raise ApiError.bad_request("the request body is not an object")
        if rtype.namespaced:
            if metadata.get("namespace", namespace) != namespace:
                raise ApiError.bad_request("the namespace of the provided object does not match the namespace sent on the request")
            metadata["namespace"] = namespace
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        with self._lock:
            if rtype.namespaced and ("", namespace) not in self._table(_NAMESPACES):
                raise ApiError.not_found("namespaces", namespace, "", "namespaces")
            name = metadata.get("name", "")
            if (namespace, name) in self._table(rtype):
                raise ApiError.already_exists(rtype.qualified, name, rtype.group, rtype.plural)
            return self._write(rtype, namespace, obj, None)

    def replace(self, rtype: ResourceType, namespace: str, name: str, obj: dict[str, Any],
                subresource: str | None = None) -> dict[str, Any]:
        """PUT: replace the object (409 Conflict on a stale resourceVersion)."""
        if not isinstance(obj, dict):
            raise ApiError.bad_request("the request body is not an object")
        if (obj.get("metadata") or {}).get("name", name) != name:
            raise ApiError.bad_request("the name of the object does not match the name on the URL")
        with self._lock:
            old = self.read(rtype, namespace, name)
            sent = (obj.get("metadata") or {}).get("resourceVersion")
            if sent and sent != old["metadata"]["resourceVersion"]:
                raise ApiError.conflict(rtype.qualified, name, rtype.group, rtype.plural)
            return self._write(rtype, namespace, obj, old, subresource=subresource)

    def modify(self, rtype: ResourceType, namespace: str, name: str,
               change: Callable[[dict[str, Any]], dict[str, Any]], subresource: str | None = None,
               create_missing: bool = False) -> tuple[dict[str, Any], bool]:
        """PATCH: ``change`` maps the current object to the new one, atomically. Returns the stored
        object and whether it was created (server-side apply creates missing objects)."""
        with self._lock:
            old = self._table(rtype).get((namespace, name))
            if old is None:
                if not create_missing:
                    raise ApiError.not_found(rtype.qualified, name, rtype.group, rtype.plural)
                new = change({"apiVersion": rtype.api_version, "kind": rtype.kind, "metadata": {"name": name}})
                return self.create(rtype, namespace, new), True
            new = change(copy.deepcopy(old))
            sent = (new.get("metadata") or {}).get("resourceVersion")
            if sent and sent != old["metadata"]["resourceVersion"]:
                raise ApiError.conflict(rtype.qualified, name, rtype.group, rtype.plural)
            return self._write(rtype, namespace, new, old, subresource=subresource), False

    def remove(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """DELETE: remove the object and its dependents; 404 if it is not there."""
        with self._lock:
            self.read(rtype, namespace, name)
            return self._delete(rtype, (namespace, name))

    # -- internals ------------------------------------------------------------------------------

    def _table(self, rtype: ResourceType) -> dict[Key, dict[str, Any]]:
        return self._objects.setdefault(rtype, {})

    def _write(self, rtype: ResourceType, namespace: str, obj: dict[str, Any], old: dict[str, Any] | None,
               subresource: str | None = None, keep_generation: bool = False) -> dict[str, Any]:
        new = json.loads(json.dumps(obj))
        if new.get("apiVersion", rtype.api_version) != rtype.api_version or new.get("kind", rtype.kind) != rtype.kind:
            raise ApiError.bad_request(f"the object is a {new.get('apiVersion')} {new.get('kind')}, "
                                       f"not a {rtype.api_version} {rtype.kind}")
        new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
        if old is not None and subresource == "status":
            new = {**copy.deepcopy(old), "status": new.get("status")}
            if new["status"] is None:
                del new["status"]
        elif old is not None and not keep_generation and rtype.subresource("status") and "status" in old:
            new["status"] = copy.deepcopy(old["status"])  # the main resource does not write .status
        metadata = new.setdefault("metadata", {})
        if rtype.namespaced:
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        if rtype.kind == "Secret" and "stringData" in new:
            data = new.setdefault("data", {}) or {}
            for key, value in (new.pop("stringData") or {}).items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            new["data"] = data
        if old is None:
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = metadata.get("creationTimestamp") or _now()
            metadata["generation"] = int(metadata.get("generation") or 1) if keep_generation else 1
        else:
            metadata["uid"] = old["metadata"]["uid"]
            metadata["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            generation = old["metadata"].get("generation", 1)
            if keep_generation and metadata.get("generation"):
                generation = int(metadata["generation"])
            elif _spec_part(new) != _spec_part(old):
                generation += 1
            metadata["generation"] = generation
        metadata.pop("resourceVersion", None)
        validate_object(rtype, new)
        self._resource_version += 1
        metadata["resourceVersion"] = str(self._resource_version)
        self._table(rtype)[(namespace, metadata["name"])] = new
        for listener in self._listeners:
            listener(rtype.kind, copy.deepcopy(old), copy.deepcopy(new))
        return new

    def _delete(self, rtype: ResourceType, key: Key) -> dict[str, Any]:
        gone = self._table(rtype).pop(key)
        self._resource_version += 1
        uid = gone["metadata"]["uid"]
        for dependent_type, table in list(self._objects.items()):
            for dependent_key, dependent in list(table.items()):
                owned = any(o.get("uid") == uid for o in dependent["metadata"].get("ownerReferences") or [])
                in_namespace = rtype is _NAMESPACES and dependent_key[0] == key[1]
                if (owned or in_namespace) and dependent_key in table:
                    self._delete(dependent_type, dependent_key)
        return gone
