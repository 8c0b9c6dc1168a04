"""The API server's object store: every object, keyed by resource type, namespace and name.

One lock guards everything; the resourceVersion is one monotonic counter. Stored objects are never
mutated in place (every write stores a fresh copy), so readers may serialize what they got after
the lock is released. ``apply``/``get``/``delete``/``list`` are the in-process seeding API the sandbox
uses (no authentication, but every write is validated against the official schema; ``apply_many``
validates one object per shape, for seeding thousands of copies); the HTTP handler uses
``create``/``replace``/``modify``/``remove``, which add the API's write semantics.

Objects are ordered by their storage key (``<namespace>/<name>``, as etcd orders them). A paginated
list reads a ``Snapshot``: later pages see the moment of the first one. Snapshots are kept until the
store is compacted (every five minutes, as kube-apiserver compacts etcd, or by ``compact()``); a
continue token of a compacted revision is 410 Expired.
"""

from __future__ import annotations

import base64
import bisect
import collections
import copy
import gc
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sandbox.kubeapi import eventsv1, resources, wire
from sandbox.kubeapi.errors import ApiError
from sandbox.kubeapi.resources import ResourceType
from sandbox.kubeapi.validation import check_name, validate_object

__all__ = ["ObjectStore", "Snapshot", "NAME_ALPHABET", "random_suffix"]

_NAMESPACES = resources.by_kind("v1", "Namespace")
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
# apimachinery util/rand: the alphabet of generated names and pod-template-hash (no vowels, no 0 1 3).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
COMPACTION_SECONDS = 300.0  # kube-apiserver --etcd-compaction-interval default
_KEPT_SNAPSHOTS = 32


def random_suffix(length: int = 5) -> str:
    """A generated-name suffix as the API server makes it (``generateName``)."""
    return "".join(secrets.choice(NAME_ALPHABET) for _ in range(length))


def storage_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


@dataclass(frozen=True)
class Snapshot:
    """One kind's objects at one resourceVersion, in storage-key order (the objects are not copies)."""

    resource_version: int
    keys: list[str]
    objects: list[dict[str, Any]]
    taken: float

    def span(self, namespace: str | None) -> tuple[int, int]:
        """The index range of one namespace's objects (all of them for None)."""
        if namespace is None:
            return 0, len(self.keys)
        return bisect.bisect_left(self.keys, namespace + "/"), bisect.bisect_left(self.keys, namespace + "0")

    def after(self, start: str) -> int:
        """The index of the first object whose key is past ``start``."""
        return bisect.bisect_right(self.keys, start)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rtype(api_version: str, kind: str) -> ResourceType:
    rtype = resources.by_kind(api_version, kind)
    if rtype is None:
        raise ApiError.bad_request(f"no kind {kind!r} is registered for version {api_version!r}")
    return resources.stored_as(rtype)


_SCALARS = (str, int, float, bool, type(None))


def _copy_and_shape(value: Any) -> tuple[Any, Any]:
    """A fresh JSON tree of ``value`` and its shape: keys (in any order), nesting, list lengths and
    value types, not the values. Objects of one shape validate alike. (One pass in Python: the JSON
    round trip and regular expressions it replaced cost four times as much per pod.)"""
    kind = type(value)
    if kind is dict:
        copied, parts = {}, []
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"keys must be str, not {type(key).__name__}")
            copied[key], shape = _copy_and_shape(item)
            parts.append((key, shape))
        parts.sort()
        return copied, tuple(parts)
    if kind is list or kind is tuple:
        pairs = [_copy_and_shape(item) for item in value]
        return [c for c, _ in pairs], ("[]", *(s for _, s in pairs))
    if isinstance(value, _SCALARS) and not (kind is float and value != value):
        return value, kind
    raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class ObjectStore:
    """Thread-safe in-memory objects with Kubernetes write semantics and schema validation."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._objects: dict[ResourceType, dict[Key, dict[str, Any]]] = {}
        self._resource_version = 0
        self._listeners: list[tuple[Callable, frozenset[str] | None]] = []
        self._pending: collections.deque = collections.deque()  # writes still to tell the listeners of
        self._notifying = False
        self._created: dict[str, int] = {}  # uid -> the resourceVersion that created it (a watch's ADDED)
        self._snapshots: collections.OrderedDict[tuple[ResourceType, int], Snapshot] = collections.OrderedDict()
        self._current: dict[ResourceType, Snapshot] = {}  # the latest snapshot of each kind, reused until a write
        self._encoded: dict[int, tuple[dict[str, Any], bytes]] = {}  # id -> (the object, its JSON)
        self._compacted = 0  # continue tokens of older revisions are expired
        self._last_compaction = time.monotonic()

    def subscribe(self, listener, kinds: Iterable[str] | None = None) -> None:
        """Call ``listener(kind, old, new)`` after every write of one of ``kinds`` (all when None),
        under the store's re-entrant lock, as a controller would watch; the rollout controller uses it."""
        self._listeners.append((listener, frozenset(kinds) if kinds is not None else None))

    def watch_from(self, listener, rtype: ResourceType, namespace: str | None) -> list[tuple[dict[str, Any], int]]:
        """Subscribe ``listener`` to ``rtype``'s kind and return the stored objects (not copies) of
        that moment with the resourceVersion that created each, at once: a watch's start, nothing
        lost between the two."""
        with self._lock:
            self.subscribe(listener, kinds=(rtype.kind,))
            return [(obj, self._created.get(obj["metadata"]["uid"], 0)) for obj in self.items(rtype, namespace)[0]]

    def unsubscribe(self, listener) -> None:
        with self._lock:
            self._listeners = [(f, kinds) for f, kinds in self._listeners if f is not listener]

    # -- the in-process seeding API -----------------------------------------------------------

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj`` or replace the stored object of the same kind, namespace and name (status
        included); returns a copy of what was stored. Raises ``ApiError`` 422 if it is invalid."""
        return copy.deepcopy(self._apply(obj, validate=True))

    def apply_many(self, objects: Iterable[dict[str, Any]]) -> int:
        """``apply`` each object, validating the first of each shape against the schema (and every
        name): seeding 20,000 pods made from one template validates one pod. Returns the count."""
        seen: set[tuple] = set()
        count = 0
        collecting = gc.isenabled()
        gc.disable()  # JSON trees hold no cycles; full collections over a growing heap made this quadratic
        try:
            for obj in objects:
                copied, shape = _copy_and_shape(obj)
                self._apply(copied, validate=shape not in seen, copied=True)
                seen.add(shape)
                count += 1
        finally:
            if collecting:
                gc.enable()
        return count

    def _apply(self, obj: dict[str, Any], *, validate: bool, copied: bool = False) -> dict[str, Any]:
        view = resources.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if view is not None and view.storage:
            obj = eventsv1.to_core(obj)
        rtype = _rtype(obj.get("apiVersion", ""), obj.get("kind", ""))
        namespace = (obj.get("metadata") or {}).get("namespace", "") if rtype.namespaced else ""
        if rtype.namespaced and not namespace:
            namespace = "default"
        with self._lock:
            old = self._table(rtype).get((namespace, (obj.get("metadata") or {}).get("name", "")))
            return self._write(rtype, namespace, obj, old, keep_generation=True, validate=validate, copied=copied)

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
        snapshot = self.snapshot(rtype)
        start, end = snapshot.span(namespace)
        return snapshot.objects[start:end], str(snapshot.resource_version)

    def snapshot(self, rtype: ResourceType, resource_version: int | None = None) -> Snapshot:
        """The kind's objects now, or at ``resource_version`` if a kept snapshot (or the present) has it;
        ``ApiError`` 410 Expired when that revision was compacted."""
        with self._lock:
            self._compact_if_due()
            if resource_version is not None and resource_version != self._resource_version:
                kept = self._snapshots.get((rtype, resource_version))
                if kept is None:
                    raise ApiError(410, "Expired", f"revision {resource_version} has been compacted")
                return kept
            current = self._current.get(rtype)
            if current is None or current.resource_version != self._resource_version:
                ordered = sorted((storage_key(*k), obj) for k, obj in self._table(rtype).items())
                current = Snapshot(self._resource_version, [k for k, _ in ordered], [o for _, o in ordered],
                                   time.monotonic())
                self._current[rtype] = current
            return current

    def encoded(self, obj: dict[str, Any]) -> bytes:
        """The compact JSON of a stored object, encoded once (stored objects never change): a list
        page of 500 pods is joined, not re-serialized."""
        cached = self._encoded.get(id(obj))
        if cached is None or cached[0] is not obj:
            cached = (obj, json.dumps(obj, separators=(",", ":")).encode())
            with self._lock:
                self._encoded[id(obj)] = cached
        return cached[1]

    def keep(self, rtype: ResourceType, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` for the later pages of a list, until compaction (or 32 newer ones)."""
        with self._lock:
            self._snapshots[(rtype, snapshot.resource_version)] = snapshot
            self._snapshots.move_to_end((rtype, snapshot.resource_version))
            while len(self._snapshots) > _KEPT_SNAPSHOTS:
                self._snapshots.popitem(last=False)

    def compact(self) -> int:
        """Compact, as the API server does every five minutes (its compactor writes a key, so the
        revision moves): every continue token issued before now answers 410 Expired. Returns the
        revision compacted at."""
        with self._lock:
            self._snapshots.clear()
            self._resource_version += 1
            self._compacted = self._resource_version
            self._last_compaction = time.monotonic()
            return self._compacted

    def _compact_if_due(self) -> None:
        if time.monotonic() - self._last_compaction >= COMPACTION_SECONDS:
            self.compact()

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
            metadata["name"] = metadata["generateName"] + random_suffix()
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
               subresource: str | None = None, keep_generation: bool = False, validate: bool = True,
               copied: bool = False) -> dict[str, Any]:
        new = obj if copied else json.loads(json.dumps(obj))  # copied: the caller made a fresh JSON tree
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
        if not rtype.generation:
            del metadata["generation"]  # only workloads, HPAs and ingresses track a generation
        metadata.pop("resourceVersion", None)
        wire.before_validation(rtype.kind, new)
        if validate:
            validate_object(rtype, new)
        else:
            check_name(rtype, new)
        wire.after_validation(rtype.kind, new)
        self._resource_version += 1
        metadata["resourceVersion"] = str(self._resource_version)
        if old is None:
            self._created[metadata["uid"]] = self._resource_version
        self._table(rtype)[(namespace, metadata["name"])] = new
        if old is not None:
            self._encoded.pop(id(old), None)
        self._notify(rtype, old, new)
        return new

    def _notify(self, rtype: ResourceType, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        """Tell the listeners of ``rtype``'s kind: ``new`` is None for a deletion. A write a listener
        makes is told after the one it reacts to, so every listener (a watch) sees the writes in
        resourceVersion order."""
        if not any(kinds is None or rtype.kind in kinds for _, kinds in self._listeners):
            return
        self._pending.append((rtype, copy.deepcopy(old), copy.deepcopy(new)))
        if self._notifying:
            return
        self._notifying = True
        try:
            while self._pending:
                rtype, old, new = self._pending.popleft()
                for listener, kinds in list(self._listeners):
                    if kinds is None or rtype.kind in kinds:
                        listener(rtype.kind, copy.deepcopy(old), copy.deepcopy(new))
        finally:
            self._notifying = False
            self._pending.clear()

    def _delete(self, rtype: ResourceType, key: Key) -> dict[str, Any]:
        gone = self._table(rtype).pop(key)
        self._encoded.pop(id(gone), None)
        self._created.pop(gone["metadata"]["uid"], None)
        self._resource_version += 1
        uid = gone["metadata"]["uid"]
        for dependent_type, table in list(self._objects.items()):
            for dependent_key, dependent in list(table.items()):
                owned = any(o.get("uid") == uid for o in dependent["metadata"].get("ownerReferences") or [])
                in_namespace = rtype is _NAMESPACES and dependent_key[0] == key[1]
                if (owned or in_namespace) and dependent_key in table:
                    self._delete(dependent_type, dependent_key)
        self._notify(rtype, gone, None)
        return gone
