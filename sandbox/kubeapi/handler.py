"""The HTTP side of the fake API: authentication, routing, RBAC, the verbs, and the audit record.

One ``BaseHTTPRequestHandler`` per connection (HTTP/1.1 keep-alive, JSON everywhere except pod
logs). ``self.server.api`` is the owning ``KubeAPIServer``: it holds the tokens, the store, the
audit deque and the log source.
"""

from __future__ import annotations

import base64
import bisect
import json
import queue
import re
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sandbox.kubeapi import discovery, eventsv1, metrics, patch, rbac, tables
from sandbox.kubeapi.audit import AuditRecord
from sandbox.kubeapi.errors import ApiError, status_body
from sandbox.kubeapi.resources import ResourceType, by_kind, by_path, stored_as
from sandbox.kubeapi.selectors import parse_field_selector, parse_label_selector
from sandbox.kubeapi.version import VERSION_INFO

if TYPE_CHECKING:
    from sandbox.kubeapi.server import KubeAPIServer

__all__ = ["APIRequestHandler"]

_JSON = "application/json"
_OPENAPI_V2_PROTO = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_PROTOBUF = "application/vnd.kubernetes.protobuf"
_WATCH = "watch"  # internal marker: _send streams the watch that self._watching describes
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))\s")
_PODS = by_kind("v1", "Pod")
_NODES = by_kind("v1", "Node")
# kube-apiserver's words (staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go) for a compacted token.
_EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can start a new "
            "list without the continue parameter, or use the continue token in this response to retrieve the "
            "remainder of the results. Continuing with the provided token results in an inconsistent list - "
            "objects that were created, modified, or deleted between the time the first chunk was returned and "
            "now may show up in the list.")


class APIRequestHandler(BaseHTTPRequestHandler):
    """Serves one connection's requests against the owning ``KubeAPIServer``."""

    protocol_version = "HTTP/1.1"
    server_version = "runbook-checks-sandbox-kubeapi"
    timeout = 30

    def setup(self) -> None:
        super().setup()
        self.connection.do_handshake()  # TLS handshake in the connection's thread, not the accept loop

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def api(self) -> KubeAPIServer:
        return self.server.api  # type: ignore[attr-defined]

    def _send(self, code: int, body: bytes, content_type: str = _JSON) -> None:
        if content_type == _WATCH:
            self._stream_watch(code)
            return
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, code: int, obj: Any) -> None:
        self._send(code, json.dumps(obj, separators=(",", ":")).encode())

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self, raw: bytes) -> Any:
        if self.headers.get("Content-Type", "").split(";")[0].strip() == _PROTOBUF:
            raise ApiError(415, "UnsupportedMediaType",
                           "the sandbox API server speaks JSON only: protobuf request bodies are not supported "
                           "(kubectl create <kind> sends protobuf; write a manifest and use kubectl apply -f)")
        try:
            return json.loads(raw or b"null")
        except ValueError as exc:
            raise ApiError.bad_request(f"the request body is not JSON: {exc}") from None

    def _dispatch(self, method: str) -> None:
        raw = self._body()
        url = urlsplit(self.path)
        path = "/" + "/".join(s for s in url.path.split("/") if s)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        user = self.api.authenticate(self.headers.get("Authorization", ""))
        record = AuditRecord("system:anonymous", method.lower(), "", "", "", path, 0)
        try:
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            request, target = self._route(method, path, query)
            record = AuditRecord(user.name, request.verb, request.resource, request.subresource,
                                 request.namespace, request.name if request.is_resource else path, 0)
            if not rbac.authorize(self.api.store, user, request):
                details = {"name": request.name, "group": request.group, "kind": request.resource} \
                    if request.is_resource else None
                raise ApiError(403, "Forbidden", rbac.forbidden_message(user, request), details)
            code, content_type, body = self._execute(method, request, target, query, raw, user)
        except ApiError as error:
            code, content_type, body = error.code, _JSON, json.dumps(error.status()).encode()
        except Exception as exc:  # a bug in the fake must still answer with a Status, not hang the client
            body = json.dumps(status_body(500, "InternalError", f"sandbox API server error: {exc!r}")).encode()
            code, content_type = 500, _JSON
        self.api.audit.append(record._replace(user=user.name if user else record.user, status_code=code))
        self._send(code, body, content_type)

    def _route(self, method: str, path: str, query: dict[str, str]) -> tuple[rbac.Request, Any]:
        """The RBAC request for the URL and what it targets: a resource tuple or a non-resource path."""
        segments = [s for s in path.split("/") if s]
        verb = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
        if segments[:1] == ["api"] and len(segments) > 2:
            group, version, rest = "", segments[1], segments[2:]
        elif segments[:1] == ["apis"] and len(segments) > 3:
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            return rbac.Request(verb=verb, path=path), path
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            inner = by_path(group, version, rest[2])
            if inner is not None and inner.namespaced:
                namespace, rest = rest[1], rest[2:]
        rtype = by_path(group, version, rest[0])
        if rtype is None or len(rest) > 3 or (rtype.namespaced and not namespace and len(rest) > 1):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        if subresource and rtype.subresource(subresource) is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not name:
            if method == "GET":
                verb = "watch" if query.get("watch") in ("1", "true") else "list"
            elif method == "DELETE":
                verb = "deletecollection"
            elif method != "POST":
                raise ApiError.method_not_allowed()
        elif method == "POST":
            raise ApiError.method_not_allowed()
        allowed = rtype.subresource(subresource).verbs if subresource else rtype.verbs
        if verb not in allowed:
            raise ApiError.method_not_allowed(f"{rtype.qualified} does not support {verb}")
        request = rbac.Request(verb=verb, group=rtype.group, resource=rtype.plural, subresource=subresource,
                               namespace=namespace, name=name)
        return request, rtype

    # -- the verbs ----------------------------------------------------------------------------

    def _execute(self, method: str, request: rbac.Request, target: Any, query: dict[str, str], raw: bytes,
                 user: rbac.User) -> tuple[int, str, bytes]:
        if not request.is_resource:
            return self._non_resource(request.path, user)
        rtype: ResourceType = target
        stored = stored_as(rtype)
        store, ns, name, sub = self.api.store, request.namespace, request.name, request.subresource
        verb = request.verb
        if verb == "watch":
            return self._watch(rtype, ns or None, query)
        if verb == "list":
            if rtype.metrics:
                return 200, _JSON, self._metrics_list(rtype, ns or None, query)
            return 200, _JSON, self._list(rtype, ns or None, query)
        if verb == "deletecollection":
            items = self._select(rtype, ns or None, query)
            gone = [store.remove(stored, o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in items]
            return 200, _JSON, _dump(self._list_body(rtype, [self._out(rtype, o) for o in gone],
                                                     {"resourceVersion": store.resource_version}))
        if sub == "log":
            return 200, "text/plain", self._log(ns, name, query).encode()
        if sub == "scale":
            return self._scale(method, rtype, ns, name, raw)
        if verb == "get":
            obj = self._read(rtype, ns, name)
            table = tables.to_table(rtype.kind, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}) \
                if not sub and not rtype.metrics and tables.wants_table(self.headers.get("Accept", "")) else None
            return 200, _JSON, _dump(table or self._out(rtype, obj))
        if verb == "create":
            return 201, _JSON, _dump(self._out(rtype, store.create(stored, ns, self._in(rtype, self._json_body(raw)))))
        if verb == "update":
            obj = store.replace(stored, ns, name, self._in(rtype, self._json_body(raw)), subresource=sub or None)
            return 200, _JSON, _dump(self._out(rtype, obj))
        if verb == "patch":
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type not in patch.PATCH_TYPES:
                self._json_body(raw)  # protobuf gets its own message
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                               f"accepted media types include: {', '.join(patch.PATCH_TYPES)}")
            if content_type != patch.APPLY_PATCH or sub:
                self._read(rtype, ns, name)  # the 404 names the requested resource
            obj, created = store.modify(
                stored, ns, name,
                lambda old: self._in(rtype, patch.apply_patch(content_type, self._view(rtype, old), raw)),
                subresource=sub or None, create_missing=content_type == patch.APPLY_PATCH and not sub)
            return (201 if created else 200), _JSON, _dump(self._out(rtype, obj))
        if verb == "delete":
            self._read(rtype, ns, name)
            return 200, _JSON, _dump(self._out(rtype, store.remove(stored, ns, name)))
        raise ApiError.method_not_allowed()

    # -- views: events.k8s.io over core events, metrics.k8s.io computed from the kubelets' reports ----

    def _read(self, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """The stored object behind a GET, with the 404 text the requested resource has."""
        try:
            obj = self.api.store.read(stored_as(rtype), namespace, name)
            if rtype.metrics and self._metrics_subject(rtype, obj) is None:
                raise ApiError(404, "NotFound", "")
            return obj
        except ApiError as error:
            if error.code != 404:
                raise
            if rtype.metrics:  # metrics-server names the object namespace/name
                shown = f"{namespace}/{name}" if rtype.namespaced else name
                raise ApiError(404, "NotFound", f'{rtype.kind.lower()}.{rtype.group} "{shown}" not found',
                               {"name": shown, "group": rtype.group, "kind": rtype.plural}) from None
            raise ApiError.not_found(rtype.qualified, name, rtype.group, rtype.plural) from None

    def _view(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """A stored object in the shape of the requested version (events.k8s.io/v1 of a core event)."""
        return eventsv1.from_core(obj) if rtype.storage else obj

    def _in(self, rtype: ResourceType, obj: Any) -> Any:
        if rtype.storage and isinstance(obj, dict):
            if obj.get("apiVersion", rtype.api_version) != rtype.api_version:
                raise ApiError.bad_request(f"the object is a {obj.get('apiVersion')} {obj.get('kind')}, "
                                           f"not a {rtype.api_version} {rtype.kind}")
            return eventsv1.to_core(obj)
        return obj

    def _out(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """What a client reads: the version's shape, and metrics as metrics-server renders them."""
        if rtype.metrics:
            subject = self._metrics_subject(rtype, obj)
            render = metrics.render_pod if rtype.namespaced else metrics.render_node
            return render(obj, subject or {"metadata": obj["metadata"]}, datetime.now(timezone.utc))
        return self._view(rtype, obj)

    def _metrics_subject(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The running pod (or the node) a metrics object reports on, or None: no metrics without one."""
        meta = obj["metadata"]
        if not rtype.namespaced:
            return _find(self.api.store, _NODES, "", meta["name"])
        pod = _find(self.api.store, _PODS, meta.get("namespace", ""), meta["name"])
        return pod if pod is not None and (pod.get("status") or {}).get("phase") == "Running" else None

    def _metrics_list(self, rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> bytes:
        """Every metrics object at once (metrics-server ignores limit and continue), ``metadata: {}``."""
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rtype)
        now = datetime.now(timezone.utc)
        render = metrics.render_pod if rtype.namespaced else metrics.render_node
        items = []
        for obj in self.api.store.items(rtype, namespace)[0]:
            subject = self._metrics_subject(rtype, obj)
            if subject is not None:
                item = render(obj, subject, now)
                if labels(item) and fields(item):
                    items.append(item)
        return _dump({"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version, "metadata": {}, "items": items})

    def _watch(self, rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> tuple[int, str, bytes]:
        """A watch, as kube-apiserver serves it: from ``resourceVersion`` (the changes since it, then
        every write as it happens; without one, ADDED for every object first), filtered by namespace
        and selectors, until ``timeoutSeconds`` (at most 60 s here) or server stop. kubectl's
        ``rollout status`` and ``get -w`` follow the sandbox's controllers through it."""
        try:
            timeout = min(float(query.get("timeoutSeconds") or 60), 60.0)
        except ValueError:
            raise ApiError.bad_request(f"invalid timeoutSeconds {query.get('timeoutSeconds')!r}") from None
        since = query.get("resourceVersion") or ""
        if since and not since.isdigit():
            raise ApiError.bad_request(f"invalid resourceVersion {since!r}")
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rtype)
        stored = stored_as(rtype)

        def wanted(obj: dict[str, Any]) -> bool:
            return ((namespace is None or obj["metadata"].get("namespace") == namespace)
                    and labels(obj) and fields(obj))

        events: queue.SimpleQueue = queue.SimpleQueue()

        def listener(kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
            obj = new if new is not None else old
            if obj is not None and by_kind(obj.get("apiVersion", ""), kind) is stored and wanted(obj):
                events.put(("ADDED" if old is None else "DELETED" if new is None else "MODIFIED", obj))

        # What changed since the client's list, then what changes: nothing lost between the two.
        # (A deletion in between is not replayed: the store keeps no history of events.)
        # kubectl 1.35+ asks for a streaming list (sendInitialEvents=true): every object as ADDED,
        # then a BOOKMARK annotated k8s.io/initial-events-end, then the changes.
        initial = query.get("sendInitialEvents") == "true"
        if initial:
            since = ""
        for obj, created in self.api.store.watch_from(listener, stored, namespace):
            version = int(obj["metadata"].get("resourceVersion") or 0)
            if wanted(obj) and (since in ("", "0") or version > int(since)):
                events.put(("ADDED" if since in ("", "0") or created > int(since) else "MODIFIED", obj))
        if initial:
            events.put(("BOOKMARK", {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": {
                "resourceVersion": str(self.api.store.resource_version),
                "annotations": {"k8s.io/initial-events-end": "true"}}}))
        self._watching = (rtype, events, listener, time.monotonic() + timeout)
        return 200, _WATCH, b""

    def _stream_watch(self, code: int) -> None:
        """Send the watch events as kube-apiserver does: one JSON object per chunk, until the deadline."""
        rtype, events, listener, deadline = self._watching
        as_table = tables.wants_table(self.headers.get("Accept", ""))  # kubectl get -w: rows, as in a list
        try:
            self.send_response(code)
            self.send_header("Content-Type", _JSON)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            while not self.api.stopping.is_set() and (left := deadline - time.monotonic()) > 0:
                try:
                    kind, obj = events.get(timeout=min(left, 0.2))
                except queue.Empty:
                    continue
                shown = obj if kind == "BOOKMARK" else self._out(rtype, obj)
                if as_table and kind != "BOOKMARK":
                    shown = tables.to_table(rtype.kind, [shown], {"resourceVersion": shown["metadata"].get(
                        "resourceVersion", "")}) or shown
                line = json.dumps({"type": kind, "object": shown}, separators=(",", ":")).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        finally:
            self.api.store.unsubscribe(listener)

    def _non_resource(self, path: str, user: rbac.User) -> tuple[int, str, bytes]:
        segments = [s for s in path.split("/") if s]
        document: Any = None
        if path == "/version":
            document = VERSION_INFO
        elif path == "/api":
            document = discovery.api_versions(f"{self.server.server_address[0]}:{self.server.server_address[1]}")
        elif path == "/apis":
            document = discovery.api_group_list()
        elif segments[:1] == ["api"] and len(segments) == 2:
            document = discovery.api_resource_list("", segments[1])
        elif segments[:1] == ["apis"] and len(segments) == 2:
            document = discovery.api_group(segments[1])
        elif segments[:1] == ["apis"] and len(segments) == 3:
            document = discovery.api_resource_list(segments[1], segments[2])
        elif path == "/openapi/v2":
            return 200, _OPENAPI_V2_PROTO, b""  # empty: kubectl apply skips client-side validation
        elif path in ("/healthz", "/livez", "/readyz"):
            return 200, "text/plain", b"ok"
        elif path == "/sandbox/audit":
            records = [r._asdict() for r in list(self.api.audit)]
            return 200, _JSON, _dump({"kind": "AuditRecordList", "items": records})
        if document is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return 200, _JSON, _dump(document)

    def _select(self, rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> list[dict[str, Any]]:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rtype)
        items, _ = self.api.store.items(stored_as(rtype), namespace)
        return [o for o in items if labels(o) and fields(o)]

    @staticmethod
    def _list_body(rtype: ResourceType, items: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
        return {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version, "metadata": metadata, "items": items}

    def _list(self, rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> bytes:
        """One page of a list, as kube-apiserver pages etcd.

        ``limit`` caps the page; ``continue`` (opaque: revision and last key) resumes from a snapshot of
        the first page's moment; a compacted revision is 410 Expired with a fresh token (which continues
        inconsistently, from the present); ``continue`` with a ``resourceVersion`` is a 400;
        ``remainingItemCount`` is sent only when the list has no selector.
        """
        stored = stored_as(rtype)
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rtype)
        selected = bool(query.get("labelSelector") or query.get("fieldSelector"))
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise ApiError.bad_request(f"invalid limit {query.get('limit')!r}") from None
        token = query.get("continue") or ""
        start = ""
        if token:
            if query.get("resourceVersion") not in (None, "", "0"):
                raise ApiError.bad_request("specifying resource version is not allowed when using continue")
            revision, start = _decode_continue(token)
            try:
                snapshot = self.api.store.snapshot(stored, None if revision == -1 else revision)
            except ApiError as error:
                if error.code != 410:
                    raise
                raise ApiError(410, "Expired", _EXPIRED,
                               metadata={"continue": _encode_continue(-1, start)}) from None
        else:
            snapshot = self.api.store.snapshot(stored)
        first, end = snapshot.span(namespace)
        index = max(first, bisect.bisect_left(snapshot.keys, start)) if token else first
        items: list[dict[str, Any]] = []
        while index < end and (limit <= 0 or len(items) < limit):
            obj = snapshot.objects[index]
            index += 1
            if labels(obj) and fields(obj):
                items.append(obj)
        metadata: dict[str, Any] = {"resourceVersion": str(snapshot.resource_version)}
        if limit > 0 and index < end:  # more keys in range, whether or not they match
            metadata["continue"] = _encode_continue(snapshot.resource_version, snapshot.keys[index - 1] + "\x00")
            if not selected:
                metadata["remainingItemCount"] = end - index
            self.api.store.keep(stored, snapshot)
        if tables.wants_table(self.headers.get("Accept", "")):
            table = tables.to_table(rtype.kind, items, metadata)
            if table is not None:
                return _dump(table)
        if rtype.storage:
            return _dump(self._list_body(rtype, [self._out(rtype, o) for o in items], metadata))
        head = _dump(self._list_body(rtype, [], metadata))[:-2]  # ...,"items":[]} less its "]}"
        return head + b",".join(self.api.store.encoded(o) for o in items) + b"]}"

    def _log(self, namespace: str, name: str, query: dict[str, str]) -> str:
        pods = by_path("", "v1", "pods")
        pod = self.api.store.read(pods, namespace, name)
        containers = [c["name"] for c in pod["spec"].get("containers", []) + pod["spec"].get("initContainers", [])]
        container = query.get("container") or ""
        if not container:
            if len(pod["spec"]["containers"]) != 1:
                choices = " ".join(c["name"] for c in pod["spec"]["containers"])
                raise ApiError.bad_request(f"a container name must be specified for pod {name}, choose one of: [{choices}]")
            container = containers[0]
        if container not in containers:
            raise ApiError.bad_request(f"container {container} is not valid for pod {name}")
        previous = query.get("previous") in ("1", "true")
        text = self.api.log_source(namespace, name, container, previous=previous) or ""
        lines = text.splitlines(keepends=True)
        if query.get("sinceSeconds"):
            since = datetime.now(timezone.utc) - timedelta(seconds=int(query["sinceSeconds"]))
            lines = [line for line in lines if _logged_at(line) is None or _logged_at(line) >= since]
        if query.get("tailLines"):
            tail = int(query["tailLines"])
            lines = lines[-tail:] if tail > 0 else []
        text = "".join(lines)
        if query.get("limitBytes"):
            text = text.encode()[: int(query["limitBytes"])].decode(errors="ignore")
        return text

    def _scale(self, method: str, rtype: ResourceType, namespace: str, name: str, raw: bytes) -> tuple[int, str, bytes]:
        store = self.api.store
        if method == "GET":
            return 200, _JSON, _dump(_scale_of(store.read(rtype, namespace, name)))
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
        body = self._json_body(raw) if method == "PUT" else None
        if method == "PATCH" and content_type not in patch.PATCH_TYPES:
            self._json_body(raw)
            raise ApiError(415, "UnsupportedMediaType", "unsupported patch type")

        def rescale(deployment: dict[str, Any]) -> dict[str, Any]:
            scale = _scale_of(deployment)
            new_scale = body if method == "PUT" else patch.apply_patch(content_type, scale, raw)
            sent = (new_scale.get("metadata") or {}).get("resourceVersion")
            if sent and sent != deployment["metadata"]["resourceVersion"]:
                raise ApiError.conflict(rtype.qualified, name, rtype.group, rtype.plural)
            replicas = (new_scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError.invalid("Scale.autoscaling", name, "autoscaling", "Scale",
                                       [("FieldValueInvalid", "spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0")])
            deployment["spec"]["replicas"] = replicas
            return deployment

        obj, _ = store.modify(rtype, namespace, name, rescale)
        return 200, _JSON, _dump(_scale_of(obj))


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _find(store: Any, rtype: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return store.read(rtype, namespace, name)
    except ApiError:
        return None


def _encode_continue(revision: int, start: str) -> str:
    """apimachinery's continue token: unpadded URL-safe base64 of {"v", "rv", "start"}."""
    token = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if decoded["v"] != "meta.k8s.io/v1" or not isinstance(decoded["rv"], int) or decoded["rv"] < -1 \
                or not isinstance(decoded["start"], str):
            raise ValueError(decoded)
        return decoded["rv"], decoded["start"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ApiError.bad_request("invalid continue token: continue key is not valid") from None


def _logged_at(line: str) -> datetime | None:
    m = _TIMESTAMP.match(line)
    if not m:
        return None
    try:
        return datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    except ValueError:
        return None


def _scale_of(deployment: dict[str, Any]) -> dict[str, Any]:
    metadata = deployment["metadata"]
    match = (deployment["spec"].get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: metadata[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in metadata},
        "spec": {"replicas": deployment["spec"].get("replicas", 1)},
        "status": {"replicas": (deployment.get("status") or {}).get("replicas", 0),
                   "selector": ",".join(f"{k}={v}" for k, v in sorted(match.items()))},
    }
