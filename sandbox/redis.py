"""A throwaway Redis server on loopback: the app's token revocation list."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import redis

from sandbox.ports import free_port
from sandbox.process import terminate

REDIS_SERVER = shutil.which("redis-server", path="/usr/bin:/usr/local/bin") or "/usr/bin/redis-server"
REVOCATION_PREFIX = "token:"
REVOCATION_TTL_SECONDS = 3600
DUMP_FILE = "redis-dump.rdb"


class RedisError(RuntimeError):
    """The sandbox Redis server could not be started."""


class RedisServer:
    """redis-server on 127.0.0.1:<free port>, no persistence, a child process of this one.

    Its log is ``workdir/redis.log``. suspend() and resume() emulate an outage: the data survives
    through an explicit SAVE to ``workdir/redis-dump.rdb``, which start() removes.
    """

    def __init__(self, workdir: Path, *, password: str | None = None) -> None:
        self.workdir = Path(workdir).resolve()
        self.password = password  # requirepass, from a 0600 config file (never on the command line)
        self.host = "127.0.0.1"
        self.port = 0
        self.log_file = self.workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while running."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        """Start redis-server and wait until it answers PING (a few bind retries on port races)."""
        if self._proc is not None:
            raise RuntimeError("RedisServer is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / DUMP_FILE).unlink(missing_ok=True)
        atexit.register(self.stop)
        try:
            for _attempt in range(3):
                self.port = free_port()
                if self._spawn_and_wait():
                    return self
            raise RedisError(f"redis-server did not start; see {self.log_file}: {self._log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _spawn_and_wait(self) -> bool:
        argv = [REDIS_SERVER]
        if self.password:
            config = self.workdir / "redis.conf"
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"requirepass {self.password}\n")
            argv.append(str(config))
        argv += [
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir), "--daemonize", "no",
            "--logfile", str(self.log_file), "--dbfilename", DUMP_FILE,
        ]
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if _ping(self.host, self.port, self.password):
                return True
            time.sleep(0.005)
        self._terminate()
        return False

    def suspend(self) -> None:
        """SAVE the data, then stop the server, keeping its port for resume()."""
        if not self.running:
            raise RuntimeError("RedisServer is not running")
        with self.client() as client:
            client.save()
        self._terminate()

    def resume(self) -> None:
        """Start a suspended server again on the same port, loading the saved data."""
        if self._proc is not None or not self.port:
            raise RuntimeError("RedisServer.resume() needs a server that was started, then suspended")
        try:
            if not self._spawn_and_wait():
                raise RedisError(f"redis-server did not resume on port {self.port}: {self._log_tail()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the server and wait for it. Idempotent."""
        atexit.unregister(self.stop)
        self._terminate()

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            terminate(proc, timeout=5)

    def client(self, **kwargs: object) -> redis.Redis:
        """A redis-py client for this server (the caller closes it)."""
        options: dict[str, object] = {"socket_timeout": 2, "socket_connect_timeout": 2, "password": self.password}
        options.update(kwargs)
        return redis.Redis.from_url(self.url, **options)

    def seed_revocations(self, count: int = 200) -> list[str]:
        """Write ``count`` revoked tokens as ``token:<jti>`` = "revoked" (TTL 1 h); return the jtis."""
        jtis = [uuid.uuid4().hex for _ in range(count)]
        with self.client() as client, client.pipeline(transaction=False) as pipe:
            for jti in jtis:
                pipe.set(f"{REVOCATION_PREFIX}{jti}", "revoked", ex=REVOCATION_TTL_SECONDS)
            pipe.execute()
        return jtis

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log_file.read_text(errors="replace").splitlines()[-5:])
        except OSError:
            return "(no log)"


def _ping(host: str, port: int, password: str | None = None) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2) as sock:
            if password:
                sock.sendall(f"AUTH {password}\r\n".encode())
                if not sock.recv(64).startswith(b"+OK"):
                    return False
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
