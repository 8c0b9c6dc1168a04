"""The db_pool checks against `python -m sandbox up` used by hand (psql sessions, `--env=<file>`),
and PostgreSQL's faults as the suite meets them on a real server: the suite's password refused, a
server down, a blackholed one (one connect_timeout for the whole run), statement_timeout hit; and
during db_pool-exhausted the suite makes exactly one connection attempt (counted in the server log)."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
import tomllib
import uuid
from pathlib import Path

import pytest

from sandbox.stack import IDLE_MINUTES
from tests.suite.runner import REPO, assert_no_secrets, run_suite, sandbox_running

pytestmark = pytest.mark.xdist_group("db-pool-by-hand")

_DB = "test_db_pool.py::"
CHECKS = 6  # the db_pool checks, the slow-query check (cpu and db_pool) included
NO_REMEDIATION = "no runbook remediation applies"


class Up:
    """A running `python -m sandbox up`: its environment file, and what its header says."""

    def __init__(self, env_file: Path) -> None:
        self.env_file = env_file
        self.text = env_file.read_text()
        self.app_dsn = re.search(r"^#   psql '([^']*user=app [^']*)'", self.text, re.M).group(1)
        self.superuser_dsn = re.search(r"^#   psql '([^']*user=postgres [^']*)'", self.text, re.M).group(1)
        self.log = Path(re.search(r"log: (\S+)\)$", self.text, re.M).group(1))
        self.dsn = tomllib.loads(self.text)["postgres"]["dsn"]

    def variant(self, *, dsn: str | None = None, postgres: str = "") -> Path:
        """A copy of the environment file with another DSN or more [postgres] keys, beside it (in
        the repository, so `--env <file>` finds the project's configuration)."""
        text = self.text.replace(self.dsn, dsn) if dsn else self.text
        text = text.replace("[postgres]\n", f"[postgres]\n{postgres}", 1)
        path = self.env_file.parent / f"variant-{uuid.uuid4().hex[:6]}.toml"
        path.write_text(text)
        return path

    def connections_received(self) -> int:
        return self.log.read_text(errors="replace").count("LOG:  connection received: host=127.0.0.1")


@pytest.fixture(scope="module")
def up():
    with sandbox_running(REPO / ".sandbox" / f"test-{uuid.uuid4().hex[:8]}") as (_, env_file):
        yield Up(env_file)


def suite(tmp_path: Path, env_file: Path, *args: str, **kwargs):
    return run_suite(tmp_path, "-m", "db_pool", "--env", str(env_file), "-l", "--tb=long", *args, **kwargs)


def errors_with_one_cause(run, count: int) -> str:
    errored = [c for c in run.cases.values() if c.outcome == "error"]
    assert len(errored) == count, run.output
    causes = {c.properties["could_not_verify"] for c in errored}
    assert len(causes) == 1, causes
    return causes.pop()


def test_idle_psql_sessions_opened_by_hand_fail_the_idle_check_with_their_pids(up, tmp_path):
    healthy = suite(tmp_path, up.env_file)
    assert healthy.returncode == 0, healthy.output
    assert len(healthy.names("passed")) == CHECKS

    sessions = [subprocess.Popen(["psql", up.app_dsn, "-X", "-A", "-t", "-q"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    try:
        pids = []
        for psql in sessions:
            psql.stdin.write("SELECT pg_backend_pid();\n")
            psql.stdin.flush()
            pids.append(psql.stdout.readline().strip())
        time.sleep(IDLE_MINUTES * 60 + 0.5)
        run = suite(tmp_path, up.env_file)
    finally:
        for psql in sessions:
            psql.communicate(timeout=10)  # closes stdin: psql exits

    assert run.returncode == 1, run.output
    assert run.names("failed") == {_DB + "test_idle_connections_within_limit"}, run.output
    case = run.cases[_DB + "test_idle_connections_within_limit"]
    for pid in pids:
        assert re.search(rf"pid {pid} app/psql from 127\.0\.0\.1:\d+", case.text), case.text
    named = re.search(r"\(PIDs ([\d ]+)\)", case.properties["remediation_steps"]).group(1)
    assert set(named.split()) == set(pids)
    assert "application_name = 'psql'" in case.properties["remediation_steps"]


def test_a_refused_password_is_the_suites_own_access_and_is_never_printed(up, tmp_path):
    wrong = "not-the-password-" + uuid.uuid4().hex
    variant = up.variant(postgres='password = "${RUNBOOK_TEST_PGPASSWORD}"\n')
    run = suite(tmp_path, variant, env={"RUNBOOK_TEST_PGPASSWORD": wrong})
    assert run.returncode == 1, run.output
    cause = errors_with_one_cause(run, CHECKS)
    assert "refused the suite's login: FATAL: password authentication failed for user \"runbook_checks\"" in cause
    assert NO_REMEDIATION in run.output and not run.remediations
    assert_no_secrets(run.everything(), [wrong])


def test_a_server_refusing_tcp_is_could_not_verify_with_the_restore_postgres_remediation(up, tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = suite(tmp_path, up.variant(dsn=re.sub(r"port=\d+", f"port={port}", up.dsn)))
    assert run.returncode == 1, run.output
    cause = errors_with_one_cause(run, CHECKS)
    assert f"PostgreSQL 127.0.0.1:{port}/app is unreachable" in cause and "Connection refused" in cause
    assert run.remediations == {"outage.restore-postgres"}


def test_a_blackholed_server_costs_the_run_one_connect_timeout(up, tmp_path):
    """It accepts TCP and never answers: one connection attempt, one connect_timeout, one cause."""
    accepted: list[socket.socket] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def hold() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    try:
        variant = up.variant(dsn=re.sub(r"port=\d+", f"port={port}", up.dsn),
                             postgres="connect_timeout_seconds = 2\n")
        started = time.monotonic()
        run = suite(tmp_path, variant)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()
    assert run.returncode == 1, run.output
    cause = errors_with_one_cause(run, CHECKS)
    assert "did not answer within postgres.connect_timeout_seconds = 2" in cause
    assert len(accepted) == 1, f"{len(accepted)} connection attempts, not one for the run"
    assert elapsed >= 2


def test_a_statement_timeout_is_could_not_verify_naming_the_timeout(up, tmp_path):
    import psycopg

    # A migration stuck mid-way holds pg_settings: the suite's read waits until statement_timeout.
    with psycopg.connect(up.superuser_dsn) as migration:
        migration.execute("LOCK TABLE pg_catalog.pg_settings IN ACCESS EXCLUSIVE MODE")
        variant = up.variant(postgres="statement_timeout_ms = 500\nlock_timeout_ms = 5000\n")
        run = suite(tmp_path, variant)
        migration.rollback()
    assert run.returncode == 1, run.output
    assert run.names("passed") == {_DB + "test_postgres_accepts_the_suite_connection"}
    cause = errors_with_one_cause(run, CHECKS - 1)
    assert "within postgres.statement_timeout_ms = 500" in cause and "(statement_timeout)" in cause


def test_during_db_pool_exhausted_the_suite_makes_exactly_one_connection_attempt(tmp_path):
    with sandbox_running(REPO / ".sandbox" / f"test-{uuid.uuid4().hex[:8]}", "--drill", "db_pool-exhausted") \
            as (_, env_file):
        exhausted = Up(env_file)
        before = exhausted.connections_received()
        run = suite(tmp_path, env_file)
        time.sleep(0.2)  # the server writes its log line as it forks the backend
        attempts = exhausted.connections_received() - before
        refusals = exhausted.log.read_text(errors="replace").count(
            "runbook_checks@app FATAL:  remaining connection slots are reserved")
    assert run.returncode == 1, run.output
    assert run.names("failed") == {_DB + "test_postgres_accepts_the_suite_connection"}
    assert attempts == 1, f"the suite made {attempts} connection attempts to a full server"
    assert refusals == 1


def test_a_role_without_pg_monitor_is_could_not_verify_rather_than_a_clean_bill(up, tmp_path):
    """Without pg_read_all_stats, other roles' state and query read as NULL: the idle and slow
    checks would find nothing and pass. They say the suite cannot see instead."""
    import psycopg
    from psycopg import sql

    password = uuid.uuid4().hex
    with psycopg.connect(up.superuser_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE checks_without_monitor LOGIN PASSWORD {}").format(sql.Literal(password)))
    dsn = up.dsn.replace("user=runbook_checks", "user=checks_without_monitor")
    run = suite(tmp_path, up.variant(dsn=dsn, postgres='password = "${RUNBOOK_TEST_PGPASSWORD}"\n'),
                env={"RUNBOOK_TEST_PGPASSWORD": password})
    assert run.returncode == 1, run.output
    errored = {_DB + n for n in ("test_idle_connections_within_limit", "test_no_transaction_left_idle_open",
                                 "test_no_query_runs_longer_than_limit")}
    assert run.names("error") == errored, run.output
    cause = errors_with_one_cause(run, 3)
    assert "role checks_without_monitor cannot see other roles' state and query" in cause
    assert "GRANT pg_monitor TO checks_without_monitor" in cause and NO_REMEDIATION in run.output
