"""``KubeAPIServer``: the fake Kubernetes API on loopback over HTTPS, with tokens, RBAC and an audit trail."""

from __future__ import annotations

import collections
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sandbox.kubeapi.audit import AuditRecord
from sandbox.kubeapi.certs import make_self_signed
from sandbox.kubeapi.handler import APIRequestHandler
from sandbox.kubeapi.rbac import User
from sandbox.kubeapi.store import ObjectStore

__all__ = ["KubeAPIServer"]

LogSource = Callable[..., str]


def _no_logs(namespace: str, pod: str, container: str, *, previous: bool) -> str:
    return ""


class _HTTPSServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers its open connections so ``stop`` can end them."""

    daemon_threads = False  # server_close() joins the connection threads
    block_on_close = True

    def __init__(self, address: tuple[str, int], api: KubeAPIServer, context: ssl.SSLContext) -> None:
        super().__init__(address, APIRequestHandler, bind_and_activate=False)
        self.api = api
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.server_bind()
        self.server_activate()
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self.connections_lock:
            self.connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-handshake is not the server's problem

    def close_connections(self) -> None:
        with self.connections_lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class KubeAPIServer:
    """A Kubernetes API server good enough for kubectl 1.32 and the Python kubernetes client.

    HTTPS with a self-signed certificate made at ``start`` (``ca_file``); bearer tokens registered with
    ``add_token``; RBAC from the Role/Binding objects in ``store``; every request recorded in ``audit``
    (also served to ``system:masters`` at ``GET /sandbox/audit``); pod logs from ``set_log_source``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, state_dir: Path) -> None:
        self.host, self.port, self.state_dir = host, port, Path(state_dir)
        self.store = ObjectStore()
        self.audit: collections.deque[AuditRecord] = collections.deque(maxlen=10000)
        self.log_source: LogSource = _no_logs
        self.ca_file: Path | None = None
        self._tokens: dict[str, User] = {}
        self._tokens_lock = threading.Lock()
        self._httpd: _HTTPSServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()  # ends open watch streams

    def __repr__(self) -> str:
        return f"<KubeAPIServer {self.url if self._httpd else 'stopped'}>"

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT`` once started."""
        if self._httpd is None:
            raise RuntimeError("the Kubernetes API server is not started")
        return f"https://{self.host}:{self.port}"

    def add_token(self, token: str, user: str, groups: list[str]) -> None:
        """Accept ``Authorization: Bearer <token>`` as ``user`` in ``groups`` (``system:masters`` is admin)."""
        with self._tokens_lock:
            self._tokens[token] = User(user, tuple(groups))

    def authenticate(self, authorization: str) -> User | None:
        """The user of an ``Authorization`` header, or None."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        with self._tokens_lock:
            return self._tokens.get(token.strip())

    def set_log_source(self, fn: LogSource) -> None:
        """``fn(namespace, pod, container, *, previous: bool) -> str`` answers ``pods/<name>/log``."""
        self.log_source = fn

    def start(self) -> KubeAPIServer:
        """Make the certificate, bind, and serve in a daemon thread; returns at once."""
        if self._httpd is not None:
            raise RuntimeError("the Kubernetes API server is already started")
        self.stopping.clear()
        cert, key = make_self_signed(self.state_dir, self.host)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._httpd = _HTTPSServer((self.host, self.port), self, context)
        self.port = self._httpd.server_address[1]
        self.ca_file = cert
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"kubeapi-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and join every thread the server started."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> KubeAPIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
