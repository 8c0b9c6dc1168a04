"""One running sandbox for the module, and a loopback HTTP server that answers as a provider's JWKS
endpoint would (any status, headers and body a test sets for a path)."""

from __future__ import annotations

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.suite.runner import REPO, sandbox_running


class JwksServer:
    """``serve(path, body, status=200, headers=...)``; ``url(path)`` is its address on 127.0.0.1."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.routes = self.routes  # type: ignore[attr-defined]
        server.first_delays = {}  # type: ignore[attr-defined]  # path -> seconds, popped by its first GET
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None,
              first_delay_s: float = 0.0) -> str:
        """``first_delay_s``: the first GET of ``path`` waits that long (a cold cache at the provider)."""
        self.routes[path] = (status, {"Content-Type": "application/json", **(headers or {})}, body)
        if first_delay_s:
            self._server.first_delays[path] = first_delay_s  # type: ignore[attr-defined]
        return self.url(path)

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Quiet."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        status, headers, body = self.server.routes.get(self.path, (404, {}, b"{}"))  # type: ignore[attr-defined]
        delay = self.server.first_delays.pop(self.path, 0.0)  # type: ignore[attr-defined]
        if delay:
            time.sleep(delay)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def jwks_server():
    server = JwksServer()
    yield server
    server.close()


class RunningSandbox:
    """A sandbox started with ``python -m sandbox up``: its environment file and its signing key's JWK."""

    def __init__(self, env_file: Path) -> None:
        self.env_file = env_file
        self.text = env_file.read_text()
        self.jwks_url = next(line.split('"')[1] for line in self.text.splitlines() if line.startswith("jwks_url"))
        self.jwk = httpx.get(self.jwks_url, timeout=5).json()["keys"][0]

    def environment(self, directory: Path, *, jwks_url: str, **oauth: str) -> str:
        """``--env=<file>``: this sandbox's environment with the JWKS URL (and oauth keys) replaced."""
        extra = "".join(f'{key} = "{value}"\n' for key, value in oauth.items())
        text = self.text.replace(f'jwks_url = "{self.jwks_url}"', f'jwks_url = "{jwks_url}"\n{extra}')
        path = directory / f"environment-{uuid.uuid4().hex[:8]}.toml"
        path.write_text(text)
        return f"--env={path}"


def start_sandbox(*options: str):
    """A module fixture body: a sandbox under the repository's .sandbox/ (as the README runs it)."""
    state_dir = REPO / ".sandbox" / f"test-oauth-{uuid.uuid4().hex[:8]}"
    with sandbox_running(state_dir, *options) as (_, env_file):
        yield RunningSandbox(env_file)
