"""The HTTP side of the fake API: authentication, routing, RBAC, the verbs, and the audit record.

One ``BaseHTTPRequestHandler`` per connection (HTTP/1.1 keep-alive, JSON everywhere except pod
logs). ``self.server.api`` is the owning ``KubeAPIServer``: it holds the tokens, the store, the
audit deque and the log source.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sandbox.kubeapi import discovery, patch, rbac, tables
from sandbox.kubeapi.audit import AuditRecord
from sandbox.kubeapi.errors import ApiError, status_body
from sandbox.kubeapi.resources import ResourceType, by_path
from sandbox.kubeapi.selectors import parse_field_selector, parse_label_selector
from sandbox.kubeapi.version import VERSION_INFO

if TYPE_CHECKING:
    from sandbox.kubeapi.server import KubeAPIServer

__all__ = ["APIRequestHandler"]

_JSON = "application/json"
_OPENAPI_V2_PROTO = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_PROTOBUF = "application/vnd.kubernetes.protobuf"
_WATCH = "watch"  # internal marker: _send streams an empty watch, body holds its duration
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))\s")


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
            self.send_response(code)
            self.send_header("Content-Type", _JSON)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            self.api.stopping.wait(float(body))
            self.wfile.write(b"0\r\n\r\n")
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
        store, ns, name, sub = self.api.store, request.namespace, request.name, request.subresource
        verb = request.verb
        if verb == "watch":
            return self._watch(query)
        if verb == "list":
            return 200, _JSON, self._list(rtype, ns or None, query)
        if verb == "deletecollection":
            items = [o for o in self._select(rtype, ns or None, query)]
            gone = [store.remove(rtype, o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in items]
            return 200, _JSON, _dump(self._list_body(rtype, gone, store.resource_version))
        if sub == "log":
            return 200, "text/plain", self._log(ns, name, query).encode()
        if sub == "scale":
            return self._scale(method, rtype, ns, name, raw)
        if verb == "get":
            obj = store.read(rtype, ns, name)
            table = tables.to_table(rtype.kind, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}) \
                if not sub and tables.wants_table(self.headers.get("Accept", "")) else None
            return 200, _JSON, _dump(table or obj)
        if verb == "create":
            return 201, _JSON, _dump(store.create(rtype, ns, self._json_body(raw)))
        if verb == "update":
            return 200, _JSON, _dump(store.replace(rtype, ns, name, self._json_body(raw), subresource=sub or None))
        if verb == "patch":
            content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type not in patch.PATCH_TYPES:
                self._json_body(raw)  # protobuf gets its own message
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                               f"accepted media types include: {', '.join(patch.PATCH_TYPES)}")
            obj, created = store.modify(rtype, ns, name, lambda old: patch.apply_patch(content_type, old, raw),
                                        subresource=sub or None,
                                        create_missing=content_type == patch.APPLY_PATCH and not sub)
            return (201 if created else 200), _JSON, _dump(obj)
        if verb == "delete":
            return 200, _JSON, _dump(store.remove(rtype, ns, name))
        raise ApiError.method_not_allowed()

    def _watch(self, query: dict[str, str]) -> tuple[int, str, bytes]:
        """An event stream that stays silent (there are no controllers here) until ``timeoutSeconds``
        (at most 60 s) or server stop, so kubectl's informers neither fail nor spin."""
        try:
            timeout = min(float(query.get("timeoutSeconds") or 60), 60.0)
        except ValueError:
            raise ApiError.bad_request(f"invalid timeoutSeconds {query.get('timeoutSeconds')!r}") from None
        return 200, _WATCH, str(timeout).encode()

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
        fields = parse_field_selector(query.get("fieldSelector"), rtype.field_selectors)
        items, _ = self.api.store.items(rtype, namespace)
        return [o for o in items if labels(o) and fields(o)]

    @staticmethod
    def _list_body(rtype: ResourceType, items: list[dict[str, Any]], resource_version: str,
                   cont: str = "", remaining: int = 0) -> dict[str, Any]:
        metadata: dict[str, Any] = {"resourceVersion": resource_version}
        if cont:
            metadata["continue"], metadata["remainingItemCount"] = cont, remaining
        return {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version, "metadata": metadata, "items": items}

    def _list(self, rtype: ResourceType, namespace: str | None, query: dict[str, str]) -> bytes:
        resource_version = self.api.store.resource_version
        items = self._select(rtype, namespace, query)
        if query.get("continue"):
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(query["continue"]))["after"])
            except (ValueError, KeyError, TypeError):
                raise ApiError.bad_request("invalid continue token") from None
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise ApiError.bad_request(f"invalid limit {query.get('limit')!r}") from None
        cont, remaining = "", 0
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            token = {"after": [last.get("namespace", ""), last["name"]], "rv": resource_version}
            cont = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            remaining = len(items) - limit
            items = items[:limit]
        body = self._list_body(rtype, items, resource_version, cont, remaining)
        if tables.wants_table(self.headers.get("Accept", "")):
            body = tables.to_table(rtype.kind, items, body["metadata"]) or body
        return _dump(body)

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
