"""What a drill's one run must show beyond the checks it fails: the evidence an on-call engineer
reads and the commands filled in for this incident. ``EVIDENCE[drill name]`` lists functions that
take the drill's :class:`~tests.suite.runner.SuiteRun` (test_drills.py runs each drill once)."""

from __future__ import annotations

import re
from collections.abc import Callable

from sandbox.drills.db_pool import LEAKED_CONNECTIONS, SLOW_QUERY_LITERAL
from tests.suite.cluster_evidence import CLUSTER_EVIDENCE
from tests.suite.runner import SuiteRun

__all__ = ["EVIDENCE"]

_DB = "test_db_pool.py::"


def _db_pool_exhausted(run: SuiteRun) -> None:
    refusal = "FATAL: remaining connection slots are reserved for non-replication superuser connections"
    case = run.cases[_DB + "test_postgres_accepts_the_suite_connection"]
    assert f'refused a new connection: "{refusal}"' in case.text
    # The grouped section alone: with -vv the short test summary after it repeats every message whole.
    section = run.output.split("= Suggested remediation =", 1)[1].split("short test summary info", 1)[0]
    assert "PostgreSQL refuses new connections: free slots held by idle connections" in section
    assert "Resize the application's connection pool" not in section  # its sizes need a connection
    # Every check that needed the connection is listed once, under the refusal as its one cause.
    assert section.count("could not verify: PostgreSQL ") == 1
    blocked = re.search(r"could not verify: .*?\n    blocked checks:\n((?:      ERROR .*\n)+)", section).group(1)
    assert len(blocked.splitlines()) == 5 and refusal in section.split("blocked checks", 1)[0]


def _db_idle_leak(run: SuiteRun) -> None:
    case = run.cases[_DB + "test_idle_connections_within_limit"]
    pids = list(dict.fromkeys(re.findall(r"pid (\d+) app/app-backend from 127\.0\.0\.1:\d+, \d+\.\d s",
                                         case.text)))
    assert len(pids) == LEAKED_CONNECTIONS, case.text
    terminate = next(line for line in case.properties["remediation_steps"].splitlines()
                     if "pg_terminate_backend" in line)
    assert f"string_to_array('{' '.join(pids)}', ' ')" in terminate
    assert "application_name = 'app-backend'" in terminate
    assert "CAUTION: If safe, terminate" in case.properties["remediation_steps"]


def _db_slow_query(run: SuiteRun) -> None:
    case = run.cases[_DB + "test_no_query_runs_longer_than_limit"]
    assert re.search(r"pid \d+ app/app-backend for \d+\.\d s: SELECT count\(\*\) FROM videos v, "
                     r"pg_sleep\(\?\) WHERE v\.title <> \?(\s|$)", case.text), case.text
    pid = re.search(r"pid (\d+) app/app-backend for", case.text).group(1)
    assert f"(the check found PIDs {pid})" in case.properties["remediation_steps"]
    for text, where in ((run.output, "terminal"), (run.xml, "JUnit"), (run.summary, "summary")):
        assert SLOW_QUERY_LITERAL not in text and SLOW_QUERY_LITERAL.replace("-", "") not in text, where


EVIDENCE: dict[str, list[Callable[[SuiteRun], None]]] = {
    "db_pool-exhausted": [_db_pool_exhausted],
    "db_pool-idle-leak": [_db_idle_leak],
    "cpu-slow-query": [_db_slow_query],
    **CLUSTER_EVIDENCE,
}
