"""A throwaway PostgreSQL 15 server on loopback, set up like production's database."""

from __future__ import annotations

import atexit
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from sandbox.ports import free_port

__all__ = ["ClientPool", "PostgresError", "PostgresServer"]

BINDIR = Path(os.environ.get("PG_BINDIR", "/usr/lib/postgresql/15/bin"))
SERVICE_USER = "postgres"
DATABASE = "app"
APP_ROLE = "app"
CHECKS_ROLE = "runbook_checks"
# The on-call engineer's operator role, which the remediations' psql commands connect as (the
# environment file's postgres.operator_dsn): it may signal other roles' backends (pg_signal_backend)
# and, to get in when every slot is taken, must be a superuser on PostgreSQL 15 and older
# (superuser_reserved_connections); on 16+ pg_use_reserved_connections would do.
OPERATOR_ROLE = "runbook_operator"
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL


class PostgresError(RuntimeError):
    """The sandbox PostgreSQL server could not be started or set up."""


class PostgresServer:
    """PostgreSQL on 127.0.0.1:<free port> with database `app` and roles `app` and `runbook_checks`.

    Layout: ``workdir/pgpass`` (libpq password file, 0600) and ``workdir/postgres/`` (owned by the
    server's user: ``data/``, the socket directory ``run/`` and ``postgresql.log``). When the postgres
    user cannot reach ``workdir`` (a 0700 parent such as pytest's basetemp) or the socket path would be
    too long, the server's directory is a private temporary directory instead: ``stop()`` copies its
    log to ``workdir/postgresql.log`` and removes it.
    Passwords are random per run and live only in memory and in the password file.
    """

    def __init__(self, workdir: Path, *, max_connections: int = 40, template_cache: Path | None = None) -> None:
        self.workdir = Path(workdir).resolve()
        self.template_cache = Path(template_cache) if template_cache else None
        self.max_connections = max_connections
        self.superuser_reserved_connections = 3
        self.host = "127.0.0.1"
        self.port = 0
        self.database = DATABASE
        self.passfile = self.workdir / "pgpass"
        self._passwords: dict[str, str] = {}
        self._serverdir: Path | None = None
        self._owned_tmpdir: Path | None = None
        self._running = False
        self._pid: int | None = None
        self.pools: list[ClientPool] = []  # connections held by the app and by drills

    # -- paths -------------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        return self._require_serverdir() / "data"

    @property
    def socket_dir(self) -> Path:
        """The directory holding the Unix socket (local connections are trusted)."""
        return self._require_serverdir() / "run"

    @property
    def log_file(self) -> Path:
        """The server log."""
        return self._require_serverdir() / "postgresql.log"

    @property
    def running(self) -> bool:
        """Whether start() succeeded and stop() has not run since."""
        return self._running

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while running."""
        return self._pid

    def _require_serverdir(self) -> Path:
        if self._serverdir is None:
            raise RuntimeError("PostgresServer has not been started")
        return self._serverdir

    # -- connection strings ------------------------------------------------------------------

    def dsn(self, user: str, *, dbname: str = DATABASE) -> str:
        """A libpq keyword DSN for ``user`` over TCP, with no password: libpq reads it from passfile."""
        return make_conninfo(
            host=self.host,
            port=str(self.port),
            dbname=dbname,
            user=user,
            passfile=str(self.passfile),
            connect_timeout="5",
        )

    def superuser_dsn(self, *, dbname: str = DATABASE) -> str:
        """A DSN for the `postgres` superuser over the Unix socket (trust authentication)."""
        return make_conninfo(
            host=str(self.socket_dir), port=str(self.port), dbname=dbname, user=SERVICE_USER,
            connect_timeout="5",
        )

    def password(self, user: str) -> str:
        """The password of role ``user`` (`app` or `runbook_checks`), for callers that must hand it on."""
        return self._passwords[user]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """initdb, configure, ``pg_ctl start -w``, then create the database, roles and table."""
        if self._running:
            raise RuntimeError("PostgresServer is already running")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        as_root = os.geteuid() == 0
        pw = pwd.getpwnam(SERVICE_USER) if as_root else None
        port = free_port()
        self._serverdir = self._choose_serverdir(pw, port)
        self._serverdir.mkdir(mode=0o700, exist_ok=True)
        if pw is not None:
            os.chown(self._serverdir, pw.pw_uid, pw.pw_gid)
        if self.datadir.exists():
            raise PostgresError(f"{self.datadir} already exists: give each PostgresServer its own workdir")

        self._initdb()
        self.socket_dir.mkdir(mode=0o700)
        if pw is not None:
            os.chown(self.socket_dir, pw.pw_uid, pw.pw_gid)
        self.port = port
        with open(self.datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(self._settings())

        atexit.register(self.stop)
        self._pg_ctl_start()
        self._passwords = {APP_ROLE: secrets.token_hex(24), CHECKS_ROLE: secrets.token_hex(24),
                           OPERATOR_ROLE: secrets.token_hex(24)}
        self._write_passfile()
        self._provision()

    # --wal-segsize=1: 1 MB WAL segments instead of 16 MB, so every sandbox copies 29 MB of cluster
    # instead of 39 MB (nothing the checks read depends on the segment size).
    _INITDB_ARGS = ("--no-sync", "--no-instructions", "--wal-segsize=1", "-U", SERVICE_USER, "--auth-local=trust",
                    "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale")

    def _initdb(self) -> None:
        """initdb, or a copy of the cached result of the same initdb (saves about 1 s of CPU).

        The cache holds a pristine cluster (no settings, roles or passwords: those are made per
        run), keyed by the initdb version, its arguments and the owner; ``cp -a`` keeps ownership.
        """
        template = None
        if self.template_cache is not None:
            version = subprocess.run([str(BINDIR / "initdb"), "--version"], capture_output=True,
                                     text=True, check=True).stdout
            key = hashlib.sha256(f"{version}{self._INITDB_ARGS}{os.geteuid()}".encode()).hexdigest()[:16]
            template = self.template_cache / f"initdb-{key}"
            if template.is_dir():
                subprocess.run(["cp", "-a", str(template), str(self.datadir)], check=True)
                return
        self._run([str(BINDIR / "initdb"), "-D", str(self.datadir), *self._INITDB_ARGS], "initdb")
        if template is not None:
            self.template_cache.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(dir=self.template_cache, prefix=".partial-"))
            try:
                subprocess.run(["cp", "-a", str(self.datadir), str(partial / "data")], check=True)
                (partial / "data").rename(template)  # atomic; fails if another run cached it first
            except OSError:
                pass
            finally:
                shutil.rmtree(partial, ignore_errors=True)

    def _pg_ctl_start(self) -> None:
        self._run(
            [
                str(BINDIR / "pg_ctl"), "start", "-w", "-t", "30", "-s", "-D", str(self.datadir),
                "-l", str(self.log_file),
            ],
            "pg_ctl start",
        )
        self._running = True
        self._pid = int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])

    def suspend(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``) but keep its data, port and roles: an outage."""
        if not self._running:
            raise RuntimeError("PostgresServer is not running")
        pid, self._pid, self._running = self._pid, None, False
        self._run([str(BINDIR / "pg_ctl"), "stop", "-m", "fast", "-w", "-t", "30", "-s",
                   "-D", str(self.datadir)], "pg_ctl stop")
        if pid is not None:
            _wait_gone(pid)

    def resume(self) -> None:
        """Start a suspended server again on the same port, with the same data and passwords."""
        if self._running or self._serverdir is None or not self._passwords:
            raise RuntimeError("PostgresServer.resume() needs a server that was started, then suspended")
        self._pg_ctl_start()

    def _choose_serverdir(self, pw: pwd.struct_passwd | None, port: int) -> Path:
        inside = self.workdir / "postgres"
        socket_path = inside / "run" / f".s.PGSQL.{port}"
        if len(str(socket_path)) <= _SOCKET_PATH_MAX - 8 and (pw is None or _reachable_by(self.workdir, pw)):
            return inside
        if (pw is not None and _reachable_by(self.workdir.parent, pw)
                and not _reachable_by(self.workdir, pw, check_parents=False)):
            # Only the workdir itself lacks the traverse bit: grant traverse (not list) to others.
            mode = self.workdir.stat().st_mode
            os.chmod(self.workdir, stat.S_IMODE(mode) | stat.S_IXOTH)
            if _reachable_by(self.workdir, pw) and len(str(socket_path)) <= _SOCKET_PATH_MAX - 8:
                return inside
        self._owned_tmpdir = Path(tempfile.mkdtemp(prefix="sandbox-pg-"))
        return self._owned_tmpdir

    def _settings(self) -> str:
        return (
            "\n# --- sandbox settings (sandbox/postgres.py) ---\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"max_connections = {self.max_connections}\n"
            f"superuser_reserved_connections = {self.superuser_reserved_connections}\n"
            f"unix_socket_directories = '{_quote_conf(str(self.socket_dir))}'\n"
            "unix_socket_permissions = 0700\n"
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
            "shared_buffers = 16MB\n"
            "password_encryption = 'scram-sha-256'\n"
            "logging_collector = off\n"
            "log_line_prefix = '%m [%p] %q%u@%d '\n"
            "log_timezone = 'UTC'\n"
            "log_connections = on\n"  # tests count the suite's connection attempts in the log
            "timezone = 'UTC'\n"
        )

    def _write_passfile(self) -> None:
        lines = []
        for user, password in self._passwords.items():
            for host in (self.host, "localhost"):
                lines.append(f"{host}:{self.port}:*:{user}:{password}\n")
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        os.chmod(self.passfile, 0o600)

    def _provision(self) -> None:
        with psycopg.connect(self.superuser_dsn(dbname="postgres"), autocommit=True) as conn:
            reserved_for_superusers = conn.info.server_version < 160000
            for role, extra in ((APP_ROLE, ""), (CHECKS_ROLE, " CONNECTION LIMIT 2"),
                                (OPERATOR_ROLE, " SUPERUSER" if reserved_for_superusers else "")):
                verifier = conn.pgconn.encrypt_password(
                    self._passwords[role].encode(), role.encode(), b"scram-sha-256"
                ).decode()
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}" + extra).format(
                        sql.Identifier(role), sql.Literal(verifier)
                    )
                )
            conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(CHECKS_ROLE)))
            if not reserved_for_superusers:
                conn.execute(sql.SQL("GRANT pg_signal_backend, pg_use_reserved_connections, pg_monitor TO {}")
                             .format(sql.Identifier(OPERATOR_ROLE)))
            conn.execute(
                sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(
                    sql.Identifier(CHECKS_ROLE)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(APP_ROLE)
                )
            )
        with psycopg.connect(self.superuser_dsn(dbname=DATABASE), autocommit=True) as conn:
            with conn.transaction():
                conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP_ROLE)))
                conn.execute(
                    "CREATE TABLE videos ("
                    " id bigserial PRIMARY KEY,"
                    " title text NOT NULL,"
                    " status text NOT NULL DEFAULT 'ready',"
                    " created_at timestamptz NOT NULL DEFAULT now())"
                )
                conn.execute(
                    "INSERT INTO videos (title) SELECT 'sandbox video ' || n FROM generate_series(1, 10) n"
                )
                conn.execute(
                    sql.SQL("GRANT SELECT ON videos TO {}").format(sql.Identifier(CHECKS_ROLE))
                )
                conn.execute("RESET ROLE")

    def stop(self) -> None:
        """``pg_ctl stop -m immediate`` and wait until the postmaster is gone. Idempotent."""
        atexit.unregister(self.stop)
        for pool in self.pools:
            pool.close()
        self.pools.clear()
        serverdir, self._running = self._serverdir, False
        pid, self._pid = self._pid, None
        if serverdir is not None and (serverdir / "data" / "postmaster.pid").exists():
            try:
                subprocess.run(
                    self._as_service_user(
                        [str(BINDIR / "pg_ctl"), "stop", "-m", "immediate", "-w", "-t", "10", "-s",
                         "-D", str(serverdir / "data")]
                    ),
                    capture_output=True, timeout=20, check=False,
                )
            except subprocess.TimeoutExpired:
                pass
        if pid is not None:
            _wait_gone(pid)
        if self._owned_tmpdir is not None:
            log = self._owned_tmpdir / "postgresql.log"
            if log.exists() and self.workdir.is_dir():
                shutil.copyfile(log, self.workdir / "postgresql.log")
            shutil.rmtree(self._owned_tmpdir, ignore_errors=True)
            self._owned_tmpdir = None
            self._serverdir = None

    def hold(self, user: str, application_name: str, count: int | None = None, *,
             keepalive_seconds: float | None = None) -> ClientPool:
        """Open ``count`` connections as ``user`` (None: until the server refuses) and keep them
        open until stop(); with ``keepalive_seconds`` each runs ``SELECT 1`` that often, as a busy
        application's pool does."""
        pool = ClientPool(self.dsn(user), application_name, keepalive_seconds=keepalive_seconds)
        self.pools.append(pool)
        pool.open(count)
        return pool

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers -----------------------------------------------------------------------------

    def _as_service_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", SERVICE_USER, "--", *argv]
        return argv

    def _run(self, argv: list[str], what: str) -> None:
        proc = subprocess.run(
            self._as_service_user(argv), capture_output=True, text=True, timeout=60, check=False
        )
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip()
            log_tail = ""
            if self._serverdir is not None and self.log_file.exists():
                log_tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-10:])
            raise PostgresError(f"{what} failed (exit {proc.returncode}): {detail}\n{log_tail}".rstrip())


def _quote_conf(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "''")


def _reachable_by(path: Path, pw: pwd.struct_passwd, *, check_parents: bool = True) -> bool:
    """Whether user ``pw`` may traverse ``path`` (and, with check_parents, every ancestor)."""
    groups = {pw.pw_gid, *(g.gr_gid for g in _groups_of(pw.pw_name))}
    chain = [path, *path.parents] if check_parents else [path]
    for directory in chain:
        st = directory.stat()
        if st.st_uid == pw.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _groups_of(user: str) -> list:
    import grp

    return [g for g in grp.getgrall() if user in g.gr_mem]


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an orphan's zombie may never be reaped here)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Wait for ``pid`` to exit; SIGKILL it if it outlives the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class ClientPool:
    """Connections held open to the server, like an application's pool (or its leak).

    ``open(None)`` connects until the server refuses and keeps the refusal in ``refusal``.
    ``start(sql)`` runs a statement on one more connection in a thread (a slow query), ``begin(sql)``
    leaves one idle in an open transaction. ``close()`` cancels and closes everything.
    """

    def __init__(self, dsn: str, application_name: str, *, keepalive_seconds: float | None = None) -> None:
        self.dsn = dsn
        self.application_name = application_name
        self.keepalive_seconds = keepalive_seconds
        self.connections: list[psycopg.Connection] = []
        self.refusal: str | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: list[psycopg.Connection] = []  # executing in a thread: cancelled at close

    def __repr__(self) -> str:
        return f"<client pool {self.application_name} {len(self.connections)} connections>"

    @property
    def pids(self) -> list[int]:
        return [conn.info.backend_pid for conn in self.connections]

    def _connect(self, *, autocommit: bool = True) -> psycopg.Connection:
        # A generous connect_timeout: on a loaded machine a fork and SCRAM exchange can take seconds.
        conn = psycopg.connect(self.dsn, application_name=self.application_name, autocommit=autocommit,
                               connect_timeout=30)
        with self._lock:
            self.connections.append(conn)
        return conn

    def open(self, count: int | None) -> int:
        """Open ``count`` connections, or (None) until the server refuses one; returns how many."""
        opened = 0
        while count is None or opened < count:
            try:
                self._connect()
            except psycopg.OperationalError as exc:
                if count is not None:
                    raise
                self.refusal = " ".join(str(exc).split())
                break
            opened += 1
        if self.keepalive_seconds and opened:
            self._spawn(self._keepalive, list(self.connections))
        return opened

    def begin(self, statement: str) -> int:
        """One connection left idle in an open transaction after ``statement``; its PID."""
        conn = self._connect(autocommit=False)
        conn.execute(statement)
        return conn.info.backend_pid

    def start(self, statement: str) -> int:
        """``statement`` running on one more connection in a thread (a slow query); its PID."""
        conn = self._connect()
        self._running.append(conn)
        self._spawn(self._run, conn, statement)
        return conn.info.backend_pid

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self, conn: psycopg.Connection, statement: str) -> None:
        try:
            conn.execute(statement)
        except psycopg.Error:
            pass  # cancelled by close(), or the server stopped

    def _keepalive(self, connections: list[psycopg.Connection]) -> None:
        while not self._closed.wait(self.keepalive_seconds):
            for conn in connections:
                try:
                    conn.execute("SELECT 1")
                except psycopg.Error:
                    pass  # the server went away (a drill stopped it); keep the others busy

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            connections, self.connections = self.connections, []
        for conn in self._running:
            try:
                conn.cancel_safe(timeout=2)
            except psycopg.Error:
                pass
        for thread in self._threads:
            thread.join(timeout=5)
        for conn in connections:
            conn.close()
