"""The app-backend stand-in: health, JWKS, client-credentials tokens and an authenticated probe."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import psycopg
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from redis.backoff import NoBackoff
from redis.retry import Retry

LOG_LINES_PER_POD = 5000
TOKEN_LIFETIME_SECONDS = 900
REVOCATION_PREFIX = "token:"
YEAR_SECONDS = 31_536_000

_HTML_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class AppStandIn:
    """app-backend on 127.0.0.1:<free port>, serving from a ThreadingHTTPServer in a daemon thread.

    The signing keys are read once, at start(), through ``key_loader`` (as a pod reads secret jwt-keys
    when it starts); reload_keys() emulates ``kubectl rollout restart``. Faults for drills are plain
    attributes that may be changed while running: ``jwks_fault`` (None, "5xx", "malformed", "empty",
    "slow", "weak-key", "private-members", "redirect", "cached-forever", "x5c-mismatch",
    "leading-zero")
    and ``health_fault`` (None, "live": both health endpoints fail, "ready": readiness fails).
    Every 401 and 503 appends an ERROR line (never a token) to the log of the next pod in ``pods``.
    """

    def __init__(
        self,
        *,
        key_loader: Callable[[], tuple[bytes, bytes]],
        redis_url: str,
        postgres_dsn: str,
        redis_password: str | None = None,
        version: str,
        pods: list[str],
        issuer: str = "https://api.ytvideocreator.com",
        audience: str = "app-backend",
        client_id: str = "smoke",
        client_secret: str | None = None,
        log_dir: Path | None = None,
    ) -> None:
        if not pods:
            raise ValueError("AppStandIn needs at least one pod name for its logs")
        self.key_loader = key_loader
        self.redis_url = redis_url
        self.redis_password = redis_password
        self.postgres_dsn = postgres_dsn
        self.version = version
        self.issuer = issuer
        self.audience = audience
        self.client_id = client_id
        self.client_secret = client_secret if client_secret is not None else secrets.token_urlsafe(24)
        self.jwks_fault: str | None = None
        self.health_fault: str | None = None
        self.api_fault: str | None = None  # "5xx": /api/v1/me answers 500
        self.delay_seconds = 0.0  # every answer this late: the app's CPU is saturated
        self.ignore_revocations = False  # a build that skips the revocation check (breach drill)
        self.host = "127.0.0.1"
        self.port = 0
        self._lock = threading.Lock()
        self._pods: list[str] = []
        self._logs: dict[str, deque[str]] = {}
        self._previous_logs: dict[str, deque[str]] = {}
        self._next_pod = itertools.count()
        self._private_key = None  # RSA, EC P-256/384/521 or Ed25519, as secret jwt-keys holds it
        self._public_key = None
        self._algorithm = "RS256"
        self._jwk: dict | None = None
        self._redis: redis.Redis | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._initial_pods = list(pods)
        # On the real control plane each pod's log is also a file kwok serves (a Logs object per pod):
        # <log_dir>/<pod>.log and <pod>.previous.log, rewritten whole on every change.
        self.log_dir = Path(log_dir) if log_dir is not None else None

    # -- properties --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def kid(self) -> str | None:
        """The kid (RFC 7638 thumbprint) of the key loaded at the last start or reload."""
        return self._jwk["kid"] if self._jwk else None

    @property
    def pods(self) -> list[str]:
        """The pods whose logs this app writes."""
        with self._lock:
            return list(self._pods)

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> AppStandIn:
        """Load the keys once, open the Redis client, and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("AppStandIn is already running")
        try:
            self._load_keys()
            self._redis = redis.Redis.from_url(
                self.redis_url, password=self.redis_password, socket_timeout=0.5, socket_connect_timeout=0.5,
                retry=Retry(NoBackoff(), 0), health_check_interval=0,
            )
            server = ThreadingHTTPServer((self.host, 0), _Handler)
            server.daemon_threads = True
            server.app = self  # type: ignore[attr-defined]
            self._server = server
            self.port = server.server_address[1]
            self.set_pods(self._initial_pods)
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"app-stand-in:{self.port}", daemon=True,
            )
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and the Redis client. Idempotent."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is not None:
            if thread is not None:
                server.shutdown()
                thread.join(timeout=5)
            server.server_close()
        client, self._redis = self._redis, None
        if client is not None:
            client.close()

    def reload_keys(self, *, pods: list[str] | None = None) -> None:
        """Emulate ``kubectl rollout restart``: re-read the keys and restart the pods' logs.

        With ``pods``, the restarted pods get these new names (fresh logs, no previous); without,
        each pod keeps its name and its log so far becomes its ``previous`` log.
        """
        self._load_keys()
        if pods is not None:
            with self._lock:
                self._pods, self._logs, self._previous_logs = [], {}, {}
            self.set_pods(pods)
            return
        with self._lock:
            for pod in self._pods:
                self._previous_logs[pod] = self._logs[pod]
                self._logs[pod] = deque(self._startup_lines(), maxlen=LOG_LINES_PER_POD)
                self._persist(pod)

    def set_pods(self, pods: list[str]) -> None:
        """Replace the pod list; pods new to it start with the startup lines in their log. With no
        pod (the deployment scaled to zero) every request gets the ingress's 503, as behind an
        ingress-nginx whose service has no endpoints."""
        with self._lock:
            self._pods = list(pods)
            for pod in pods:
                if pod not in self._logs:
                    self._logs[pod] = deque(self._startup_lines(), maxlen=LOG_LINES_PER_POD)
                    self._persist(pod)

    def __enter__(self) -> AppStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- keys --------------------------------------------------------------------------------

    def _load_keys(self) -> None:
        private_pem, public_pem = self.key_loader()
        private_key = serialization.load_pem_private_key(private_pem, password=None)
        public_key = serialization.load_pem_public_key(public_pem)
        jwk, algorithm = public_jwk(public_key)
        if public_jwk(private_key.public_key())[0] != jwk:
            raise ValueError("the private and public keys in jwt-keys are not one key pair")
        self._private_key, self._public_key, self._algorithm, self._jwk = private_key, public_key, algorithm, jwk

    def jwks(self) -> dict:
        """The key set as served without faults: the loaded public key only."""
        return {"keys": [dict(self._jwk)] if self._jwk else []}

    def private_jwk(self) -> dict:
        """The loaded key with its private members, as a leaking JWKS would publish it (drills only)."""
        algorithm = {"RS256": jwt.algorithms.RSAAlgorithm, "EdDSA": jwt.algorithms.OKPAlgorithm}.get(
            self._algorithm, jwt.algorithms.ECAlgorithm)
        jwk = json.loads(algorithm.to_jwk(self._private_key))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self._algorithm}

    def issue_token(self, subject: str) -> str:
        """An access token for ``subject`` signed with the loaded private key (RS256, ES256 or EdDSA)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": self.audience, "sub": subject, "jti": uuid.uuid4().hex,
            "iat": now, "exp": now + TOKEN_LIFETIME_SECONDS,
        }
        return jwt.encode(claims, self._private_key, algorithm=self._algorithm, headers={"kid": self.kid})

    def faulty_jwks(self, fault: str) -> dict:
        """The key set with one published key changed as a botched rotation or encoder would."""
        key = dict(self._jwk)
        if fault == "x5c-mismatch":  # the certificate of another key beside this key's members
            other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key["x5c"] = [base64.b64encode(_self_signed_der(other)).decode()]
        elif fault == "leading-zero" and "n" in key:  # n with a leading zero octet (RFC 7518 6.3.1.1)
            raw = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
            key["n"] = base64.urlsafe_b64encode(b"\0" + raw).rstrip(b"=").decode()
        return {"keys": [key]}

    # -- logs --------------------------------------------------------------------------------

    def logs_for(self, namespace: str, pod: str, container: str, *, previous: bool = False) -> str:
        """A pod's log text (the last 5,000 lines); KeyError for an unknown pod or absent previous log.

        ``namespace`` and ``container`` are accepted for the Kubernetes API's sake: the app has one
        container per pod and lives in one namespace.
        """
        with self._lock:
            source = self._previous_logs if previous else self._logs
            if pod not in source:
                what = "previous terminated container" if previous else "pod"
                raise KeyError(f"{what} {pod!r} not found")
            lines = list(source[pod])
        return "".join(line + "\n" for line in lines)

    def log(self, level: str, message: str) -> None:
        """Append ``<timestamp> LEVEL message`` to the next pod's log (round robin)."""
        line = f"{_timestamp()} {level} {message}"
        with self._lock:
            if not self._pods:
                return  # no pod runs: nobody writes a log
            pod = self._pods[next(self._next_pod) % len(self._pods)]
            self._logs[pod].append(line)
            self._persist(pod)

    def log_file(self, pod: str, *, previous: bool = False) -> Path | None:
        """Where ``pod``'s log is written (None without a log_dir)."""
        if self.log_dir is None:
            return None
        return self.log_dir / f"{pod}.previous.log" if previous else self.log_dir / f"{pod}.log"

    def _persist(self, pod: str) -> None:
        """Rewrite the pod's log files (call with the lock held); atomic for a reader."""
        if self.log_dir is None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for previous, source in ((False, self._logs), (True, self._previous_logs)):
            if pod in source:
                target = self.log_file(pod, previous=previous)
                partial = target.with_suffix(".partial")
                # The CRI format the kubelet reads (containerd's /var/log/pods files): time, stream, tag.
                partial.write_text("".join(f"{_cri_time()} stdout F {line}\n" for line in source[pod]))
                partial.replace(target)

    def _startup_lines(self) -> list[str]:
        now = _timestamp()
        return [
            f"{now} INFO app: starting app-backend version {self.version}",
            f"{now} INFO app: loaded signing key (kid={self.kid})",
            f"{now} INFO db: connection pool ready",
            f"{now} INFO cache: revocation store connected",
            f"{now} INFO http: listening on 0.0.0.0:8000",
        ]

    # -- dependency probes -------------------------------------------------------------------

    def _check_redis(self) -> str | None:
        try:
            assert self._redis is not None
            self._redis.ping()
        except (redis.RedisError, OSError, AssertionError) as exc:
            return _reason(exc)
        return None

    def _check_postgres(self) -> str | None:
        try:
            with psycopg.connect(
                self.postgres_dsn, connect_timeout=2, application_name="app-backend-health"
            ) as conn:
                conn.execute("SELECT 1").fetchone()
        except (psycopg.Error, OSError) as exc:
            return _reason(exc)
        return None

    def _is_revoked(self, jti: str) -> bool:
        assert self._redis is not None
        revoked = bool(self._redis.exists(f"{REVOCATION_PREFIX}{jti}"))
        return revoked and not self.ignore_revocations


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the AppStandIn found on the server."""

    server_version = "app-backend"
    sys_version = ""

    @property
    def app(self) -> AppStandIn:
        return self.server.app  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Keep the request log off stderr."""

    def _no_endpoints(self) -> bool:
        """No pod runs: the ingress in front answers 503 for every path (its upstream has no endpoints)."""
        if self.app.pods:
            return False
        try:
            self._send(503, _HTML_503, "text/html")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return True

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = urlsplit(self.path).path.rstrip("/") or "/"
        if self._no_endpoints():
            return
        if self.app.delay_seconds:
            time.sleep(self.app.delay_seconds)
        routes = {
            "/health/live": self._live,
            "/health/ready": self._ready,
            "/oauth/jwks.json": self._jwks,
            MOVED_JWKS_PATH: lambda: self._json(200, self.app.jwks()),
            "/api/v1/me": self._me,
        }
        self._dispatch(routes.get(path), path, allowed="POST" if path in ("/oauth/token", "/oauth/revoke") else None)

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = urlsplit(self.path).path.rstrip("/") or "/"
        if self._no_endpoints():
            return
        known_get = path in ("/health/live", "/health/ready", "/oauth/jwks.json", "/api/v1/me")
        posts = {"/oauth/token": self._token, "/oauth/revoke": self._revoke}
        self._dispatch(posts.get(path), path, allowed="GET" if known_get else None)

    def _dispatch(self, handler: Callable[[], None] | None, path: str, *, allowed: str | None) -> None:
        try:
            if handler is not None:
                handler()
            elif allowed is not None:
                self._json(405, {"error": "method_not_allowed"}, extra={"Allow": allowed})
            else:
                self._json(404, {"error": "not_found", "path": path})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - a stand-in must answer, like a real app's 500
            self.app.log("ERROR", f"http: unhandled error on {self.command} {path}: {type(exc).__name__}")
            try:
                self._json(500, {"error": "internal_error"})
            except OSError:
                pass

    # -- endpoints ---------------------------------------------------------------------------

    def _live(self) -> None:
        app = self.app
        if app.health_fault == "live":
            app.log("ERROR", "health: liveness check failed: event loop blocked")
            self._json(503, {"status": "error", "version": app.version})
            return
        self._json(200, {"status": "ok", "version": app.version})

    def _ready(self) -> None:
        app = self.app
        failures = {}
        if app.health_fault in ("live", "ready"):
            failures["app"] = "not ready: startup not complete"
        redis_error, postgres_error = app._check_redis(), app._check_postgres()
        if redis_error:
            failures["redis"] = redis_error
        if postgres_error:
            failures["postgres"] = postgres_error
        checks = {
            "redis": "ok" if not redis_error else f"error: {redis_error}",
            "postgres": "ok" if not postgres_error else f"error: {postgres_error}",
        }
        if failures:
            app.log("ERROR", "health: readiness check failed: "
                    + "; ".join(f"{name}: {reason}" for name, reason in failures.items()))
            self._json(503, {"status": "error", "version": app.version, "failed": sorted(failures),
                             "checks": checks})
            return
        self._json(200, {"status": "ok", "version": app.version, "checks": checks})

    def _jwks(self) -> None:
        app = self.app
        fault = app.jwks_fault
        if fault == "5xx":
            app.log("ERROR", "http: GET /oauth/jwks.json failed: key service unavailable")
            self._send(503, _HTML_503, "text/html")
        elif fault == "malformed":
            body = json.dumps(app.jwks()).encode()
            self._send(200, body[: len(body) // 2], "application/json")
        elif fault == "empty":
            self._json(200, {"keys": []})
        elif fault == "slow":  # longer than the sandbox's oauth.jwks_latency_budget_ms (sandbox/stack.py)
            time.sleep(SLOW_JWKS_SECONDS)
            self._json(200, app.jwks())
        elif fault == "weak-key":  # a botched rotation: an extra 1024-bit key without kid/alg/use
            self._json(200, {"keys": app.jwks()["keys"] + [_weak_jwk()]})
        elif fault == "private-members":  # the private key published: a breach
            self._json(200, {"keys": [app.private_jwk()]})
        elif fault == "redirect":  # the key set moved; the old URL answers 301 to the new one
            self._json(301, {"error": "moved"}, extra={"Location": f"{app.url}{MOVED_JWKS_PATH}"})
        elif fault == "cached-forever":  # clients keep the old keys for a year after a rotation
            self._json(200, app.jwks(), extra={"Cache-Control": f"public, max-age={YEAR_SECONDS}, immutable"})
        elif fault in ("x5c-mismatch", "leading-zero"):
            self._json(200, app.faulty_jwks(fault), extra={"Cache-Control": "public, max-age=300"})
        else:
            self._json(200, app.jwks(), extra={"Cache-Control": "public, max-age=300"})

    def _form_and_client(self) -> tuple[dict[str, str], str | None]:
        """The urlencoded form and the authenticated client id (HTTP Basic or form fields, RFC 6749
        2.3.1); answers 401 invalid_client itself and returns None for a bad client."""
        app = self.app
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace")) if length else {}
        field = {name: values[0] for name, values in form.items() if values}
        client_id, client_secret = field.get("client_id"), field.get("client_secret")
        basic = self.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = client_secret = None
        if client_id != app.client_id or not secrets.compare_digest(
            (client_secret or "").encode(), app.client_secret.encode()
        ):
            app.log("ERROR", f"auth: client authentication failed (client_id={_printable(client_id)})")
            self._json(401, {"error": "invalid_client"}, extra={"WWW-Authenticate": 'Basic realm="oauth"'})
            return field, None
        return field, client_id

    def _token(self) -> None:
        app = self.app
        field, client_id = self._form_and_client()
        if client_id is None:
            return
        if field.get("grant_type") != "client_credentials":
            self._json(400, {"error": "unsupported_grant_type"})
            return
        token = app.issue_token(f"client:{client_id}")
        self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS},
                   extra={"Cache-Control": "no-store"})

    def _revoke(self) -> None:
        """RFC 7009 token revocation: the token's jti goes on the revocation list until it expires.
        An invalid or unknown token is answered 200 as well (RFC 7009 section 2.2)."""
        app = self.app
        field, client_id = self._form_and_client()
        if client_id is None:
            return
        try:
            claims = jwt.decode(field.get("token", ""), app._public_key, algorithms=["RS256"],
                                audience=app.audience, issuer=app.issuer)
        except jwt.PyJWTError:
            self._send(200, b"", "application/json")
            return
        ttl = max(1, int(claims["exp"]) - int(time.time()))
        try:
            assert app._redis is not None
            app._redis.set(f"{REVOCATION_PREFIX}{claims['jti']}", "revoked", ex=ttl)
        except (redis.RedisError, OSError) as exc:
            app.log("ERROR", f"auth: revocation failed: redis unavailable: {_reason(exc)}")
            self._json(503, {"error": "temporarily_unavailable"})
            return
        self._send(200, b"", "application/json")

    def _me(self) -> None:
        app = self.app
        if app.api_fault == "5xx":  # a deploy broke the authenticated API
            app.log("ERROR", "http: GET /api/v1/me failed: unhandled error in handler")
            self._json(500, {"error": "internal_error"})
            return
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self._unauthorized("jwt validation failed: missing bearer token", kid=None)
            return
        token = token.strip()
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            kid = None
        try:
            claims = jwt.decode(
                token, app._public_key, algorithms=[app._algorithm], audience=app.audience, issuer=app.issuer,
                options={"require": ["exp", "iat", "sub", "jti"]}, leeway=5,
            )
        except jwt.PyJWTError as exc:
            self._unauthorized(f"jwt validation failed: {_printable(str(exc))}", kid=kid)
            return
        try:
            revoked = app._is_revoked(str(claims["jti"]))
        except (redis.RedisError, OSError) as exc:
            app.log("ERROR", f"auth: revocation check failed: redis unavailable: {_reason(exc)} (kid={kid})")
            self._json(503, {"error": "temporarily_unavailable",
                             "error_description": "revocation store unavailable"})
            return
        if revoked:
            self._unauthorized("token revoked", kid=kid, description="token revoked")
            return
        self._json(200, {"sub": claims["sub"], "iss": claims["iss"], "aud": claims["aud"]})

    # -- responses ---------------------------------------------------------------------------

    def _unauthorized(self, reason: str, *, kid: str | None, description: str | None = None) -> None:
        self.app.log("ERROR", f"auth: {reason} (kid={_printable(kid)})")
        body = {"error": "invalid_token"}
        if description:
            body["error_description"] = description
        self._json(401, body, extra={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    def _json(self, status: int, payload: object, *, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", extra=extra)

    def _send(self, status: int, body: bytes, content_type: str, *, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def public_jwk(public_key) -> tuple[dict, str]:
    """The public JWK of a signing key (RSA, EC or Ed25519) and its algorithm; kid = RFC 7638 thumbprint."""
    if isinstance(public_key, rsa.RSAPublicKey):
        algorithm, jwk = "RS256", json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key))
        members = ("e", "kty", "n")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public_key))
        algorithm, members = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[jwk["crv"]], ("crv", "kty", "x", "y")
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        algorithm, jwk = "EdDSA", json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(public_key))
        members = ("crv", "kty", "x")
    else:
        raise ValueError(f"jwt-keys holds a {type(public_key).__name__}, not an RSA, EC or Ed25519 key")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {"kty": jwk["kty"], "kid": kid, "use": "sig", "alg": algorithm,
            **{m: jwk[m] for m in members if m != "kty"}}, algorithm


def _self_signed_der(key) -> bytes:
    """A self-signed X.509 certificate (DER) for ``key``, valid for a day."""
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app-backend signing key")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.DER)


def _cri_time() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return _printable(text[:160])


def _printable(value: object) -> str:
    """A value safe for a log line: one line, bounded, and never anything shaped like a JWT."""
    text = " ".join(str(value).split())[:200]
    if text.count(".") >= 2 and len(text) > 40 and " " not in text:
        return "<redacted>"
    return text


SLOW_JWKS_SECONDS = 2.5  # above the sandbox's 1,500 ms budget, below the 5 s request timeout
MOVED_JWKS_PATH = "/oauth/v2/jwks.json"


def _weak_jwk() -> dict:
    """A public 1024-bit RSA key with none of kid, alg or use."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(
        rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()))
    return {"kty": jwk["kty"], "n": jwk["n"], "e": jwk["e"]}
