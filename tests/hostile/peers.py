"""Small hostile peers on loopback: each accepts TCP connections and misbehaves in one way.

A peer is a plain socket server in a thread (real sockets, real clients), so the suite's clients
meet exactly what a broken or malicious server sends: nothing, a trickle, an endless stream, a
huge body, JSON nested a million deep, a RESP server without HELLO.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Callable

Behaviour = Callable[[socket.socket, "Peer"], None]


class Peer:
    """``with Peer(behaviour) as peer: peer.url`` - serves every connection with ``behaviour``."""

    def __init__(self, behaviour: Behaviour, *, scheme: str = "http") -> None:
        self.behaviour = behaviour
        self.scheme = scheme
        self.stopping = threading.Event()
        self.requests: list[bytes] = []  # the first bytes of each connection
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> Peer:
        self._accepting.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)
        self._server.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.behaviour(conn, self)
            except OSError:  # the client gave up: that is the point
                pass

    def send_slowly(self, conn: socket.socket, data: bytes, interval: float) -> None:
        for byte in data:
            if self.stopping.wait(interval):
                return
            conn.sendall(bytes([byte]))

    def wait(self, seconds: float) -> None:
        self.stopping.wait(seconds)


def read_request(conn: socket.socket, peer: Peer) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    peer.requests.append(data)
    return data


# --- HTTP behaviours ---


def never_answers(conn, peer):
    read_request(conn, peer)
    peer.wait(60)


def trickles_headers(conn, peer):
    read_request(conn, peer)
    peer.send_slowly(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 1000, 0.5)


def trickles_body(conn, peer):
    read_request(conn, peer)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
    peer.send_slowly(conn, b'{"keys": [' + b" " * 99990, 0.5)


def _endless(conn, peer, head: bytes, piece: bytes):
    read_request(conn, peer)
    conn.sendall(head)
    while not peer.stopping.is_set():
        conn.sendall(piece)


def endless_chunked(conn, peer):
    chunk = b" " * 65536
    _endless(conn, peer, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
             b'a\r\n{"keys": [\r\n', b"%x\r\n%s\r\n" % (len(chunk), chunk))


def huge_body(conn, peer):
    _endless(conn, peer, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n"
             b'{"keys": [', b" " * 65536)


def gzip_bomb(conn, peer):
    """32 KB on the wire, 32 MB once decompressed (ignores Accept-Encoding: identity)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    body = b"".join(compressor.compress(block) for _ in range(32)) + compressor.flush()
    read_request(conn, peer)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    peer.wait(5)


def answers(status: int, body: bytes, *, content_type: str = "application/json", extra: str = "") -> Behaviour:
    def behaviour(conn, peer):
        read_request(conn, peer)
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                     f"{extra}Connection: close\r\n\r\n".encode() + body)

    return behaviour


NESTED_JSON = answers(200, b'{"keys": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")


def accepts_and_closes(conn, peer):
    read_request(conn, peer)


def timed(call: Callable[[], object]) -> tuple[object, float, int]:
    """Run ``call``; its result (or the exception it raised), wall seconds, and peak traced bytes."""
    import tracemalloc

    tracemalloc.start()
    started = time.monotonic()
    try:
        result: object = call()
    except Exception as exc:  # the fault cases assert on the exception
        result = exc
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, elapsed, peak


# --- RESP (Redis) behaviours: +OK to every command until PING, which gets the fault ---


def resp(on_ping: Callable[[socket.socket, Peer], None]) -> Behaviour:
    def behaviour(conn, peer):
        conn.settimeout(5)
        while not peer.stopping.is_set():
            data = conn.recv(65536)
            if not data:
                return
            peer.requests.append(data)
            if b"PING" in data.upper():
                on_ping(conn, peer)
                return
            conn.sendall(b"+OK\r\n" * max(1, data.count(b"*")))

    return behaviour


RESP_NEVER_ANSWERS = resp(lambda conn, peer: peer.wait(60))
RESP_TRICKLES = resp(lambda conn, peer: peer.send_slowly(conn, b"+PONG\r\n", 0.5))


def _huge_bulk(conn, peer):
    conn.sendall(b"$2000000000\r\n")
    block = b"x" * 65536
    while not peer.stopping.is_set():
        conn.sendall(block)


RESP_HUGE_BULK = resp(_huge_bulk)


def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# --- a Kubernetes API peer: a handler per request answers (status, body) ---


class KubePeer(Peer):
    """``KubePeer(lambda path, query: (200, {...}))``: JSON answers over HTTP/1.1 on loopback;
    a body that is an iterator of bytes is streamed as it comes."""

    def __init__(self, answer: Callable[[str, dict], tuple[int, object]]) -> None:
        super().__init__(self._http)
        self.answer = answer
        self.paths: list[tuple[str, dict]] = []

    def _http(self, conn, peer):
        import json
        from urllib.parse import parse_qs, urlsplit

        while not self.stopping.is_set():
            request = read_request(conn, peer)
            if not request:
                return
            target = request.split(b" ", 2)[1].decode()
            parts = urlsplit(target)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            self.paths.append((parts.path, query))
            status, body = self.answer(parts.path, query)
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            if isinstance(body, bytes):
                conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                             % (status, len(body)) + body)
                continue
            conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                         % status)
            for piece in body:
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                if self.stopping.is_set():
                    return
            conn.sendall(b"0\r\n\r\n")


def kubeconfig(path, server: str, *, token: str | None = "kube-token-0123456789abcdef", user: dict | None = None,
               ca: str | None = None) -> str:
    """A kubeconfig file for one cluster; returns its path."""
    import yaml

    cluster = {"server": server, **({"certificate-authority": ca} if ca else {})}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "peer",
        "clusters": [{"name": "peer", "cluster": cluster}],
        "contexts": [{"name": "peer", "context": {"cluster": "peer", "user": "suite"}}],
        "users": [{"name": "suite", "user": user or {"token": token}}],
    }))
    return str(path)
