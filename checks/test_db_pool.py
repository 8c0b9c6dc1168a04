"""Incident 2: Database Connection Pool Exhausted (``remaining connection slots are reserved``,
``Too many connections``, 500s from the API); and Incident 1's CPU-intensive queries.

Investigation: the runbook's ``pg_stat_activity`` queries (connections in total, by state, idle
ones), read once through the suite's one read-only connection, which is itself left out of every
count. Each check below is one thing that must hold for the application to get its connections.
"""

from collections import Counter

import pytest

from transport.postgres import format_age

pytestmark = [pytest.mark.db_pool]


def _listed(backends, age, limit: int = 10) -> str:
    shown = "; ".join(b.describe(age(b)) for b in backends[:limit])
    return shown + (f"; and {len(backends) - limit} more" if len(backends) > limit else "")


def _count(items, one: str, many: str | None = None) -> str:
    return f"{len(items)} {one if len(items) == 1 else many or one + 's'}"


def _busiest(backends) -> str | None:
    """The application_name holding the most of these connections."""
    names = Counter(b.application for b in backends if b.application)
    return names.most_common(1)[0][0] if names else None


@pytest.mark.runbook("incident-2/investigation-1")
@pytest.mark.remediation("db_pool.free-slots")
def test_postgres_accepts_the_suite_connection(pg_connection):
    """PostgreSQL has a free connection slot for one more client (the suite).

    Runbook, Incident 2, symptoms and investigation 1: ``FATAL: remaining connection slots are
    reserved for non-replication superuser connections``; the suite's own connection attempt is
    the test, made once, without retries.
    """
    assert pg_connection.refusal is None, (
        f"PostgreSQL {pg_connection.server} refused a new connection: \"{pg_connection.refusal}\"; "
        "every new client of the database, the app's pods included, is refused the same way"
    )


@pytest.mark.runbook("incident-2/investigation-1", "incident-2/investigation-2")
@pytest.mark.remediation("db_pool.restart-pods")
def test_connection_headroom_is_above_minimum(env, pg_activity):
    """The client backends leave at least db_pool.min_headroom_percent of the usable slots free.

    Runbook, Incident 2, investigation 1-2: ``SELECT count(*) FROM pg_stat_activity`` and by state.
    Usable slots are max_connections minus the reserved ones (as check_pgactivity counts them).
    """
    a = pg_activity
    free = a.usable - a.in_use
    percent = 100 * free / a.usable if a.usable > 0 else 0.0
    assert percent >= env.db_pool.min_headroom_percent, (
        f"PostgreSQL {a.server}: headroom {free} of {a.usable} usable connections ({percent:.0f}%), below the "
        f"minimum {env.db_pool.min_headroom_percent:g}% ({env.cite('db_pool.min_headroom_percent')}); usable = {a.reserved_text}; in use {a.in_use} by state "
        f"{dict(a.by_state().most_common())}, by user/application {dict(a.by_client().most_common(5))}"
    )


@pytest.mark.runbook("incident-2/investigation-3", "incident-2/resolution-2")
@pytest.mark.remediation("db_pool.kill-idle")
def test_idle_connections_within_limit(env, pg_activity, pg_sessions, app_pools_now, observed):
    """No more than db_pool.max_idle connections have been idle longer than db_pool.idle_minutes,
    besides the app's pools' own.

    Runbook, Incident 2, investigation 3: ``WHERE state = 'idle' AND query_start < NOW() -
    INTERVAL '10 minutes'`` (here: idle since state_change, the moment the last query ended). A pool
    keeps its connections open, idle at a quiet hour: up to pool size x running pods of the app's
    connections are the pools', and only the app's connections beyond that count (the longest idle
    first), with everyone else's (a psql left open, another service's leak).
    """
    limit_s = env.db_pool.idle_minutes * 60
    idle = sorted((b for b in pg_sessions if b.state == "idle" and (b.state_seconds or 0) > limit_s),
                  key=lambda b: -(b.state_seconds or 0))
    counted, allowance = app_pools_now.not_theirs(idle, pg_sessions)
    busiest = _busiest(counted)  # the terminate step filters on one application_name: its PIDs
    observed(idle_minutes=f"{env.db_pool.idle_minutes:g}", application=busiest,
             pids=[str(b.pid) for b in counted if b.application == busiest])
    assert len(counted) <= env.db_pool.max_idle, (
        f"PostgreSQL {pg_activity.server}: {_count(counted, 'connection')} idle longer than "
        f"{env.db_pool.idle_minutes:g} min ({env.cite('db_pool.idle_minutes')}), above "
        f"{env.cite('db_pool.max_idle')}{allowance}: "
        + _listed(counted, lambda b: b.state_seconds)
    )


@pytest.mark.runbook("incident-2/resolution-4")
@pytest.mark.remediation("db_pool.find-connection-leaks")
def test_no_transaction_left_idle_open(env, pg_activity, pg_sessions, observed):
    """No session sits idle inside an open transaction longer than idle_in_transaction_seconds.

    Runbook, Incident 2, resolution 4: "check for connection leaks in code, review database session
    management" (a transaction never committed holds its connection and its locks).
    """
    limit = env.db_pool.idle_in_transaction_seconds
    stuck = sorted((b for b in pg_sessions
                    if (b.state or "").startswith("idle in transaction") and (b.state_seconds or 0) > limit),
                   key=lambda b: -(b.state_seconds or 0))
    observed(applications=sorted({b.application or "(no application_name)" for b in stuck}))
    assert not stuck, (
        f"PostgreSQL {pg_activity.server}: {_count(stuck, 'session')} idle in transaction longer than "
        f"{limit:g} s ({env.cite('db_pool.idle_in_transaction_seconds')}): "
        + _listed(stuck, lambda b: b.state_seconds)
    )


@pytest.mark.runbook("incident-2/resolution-1", "incident-2/prevention-4")
@pytest.mark.remediation("db_pool.resize-pool")
def test_pool_size_times_replicas_fits_usable_slots(pg_activity, app_pool_demand, observed):
    """The application's pool size times its most pods fits in the server's usable slots.

    Runbook, Incident 2, resolution 1: "increase connection pool (temporary)" must not itself
    exhaust the server; the suggested remediation names the largest pool size that fits.
    """
    demand, usable = app_pool_demand, pg_activity.usable
    safe = demand.largest_safe_pool(usable)
    observed(safe_pool_size=safe, max_replicas=demand.replicas, usable_slots=usable)
    assert demand.connections <= usable, (
        f"pool size {demand.pool_size} ({demand.pool_size_source}) x {demand.replicas} pods "
        f"({demand.replicas_source}) = {demand.connections} connections, above the {usable} usable slots "
        f"of PostgreSQL {pg_activity.server} ({pg_activity.reserved_text}); the largest pool size that "
        f"fits is {safe}"
    )


@pytest.mark.cpu
@pytest.mark.runbook("incident-1/resolution-2")
@pytest.mark.remediation("cpu.find-expensive-queries")
def test_no_query_runs_longer_than_limit(env, pg_activity, pg_sessions, observed):
    """No query has been running longer than postgres.slow_query_seconds.

    Runbook, Incident 1, resolution 2: "check for CPU-intensive queries: connect to database and
    check slow queries". Query texts are shown with their literals replaced by ``?``.
    """
    slow = sorted((b for b in pg_sessions if b.query is not None),
                  key=lambda b: -(b.query_seconds or 0))
    observed(pids=[str(b.pid) for b in slow])
    assert not slow, (
        f"PostgreSQL {pg_activity.server}: {_count(slow, 'query', 'queries')} running longer than "
        f"{env.postgres.slow_query_seconds:g} s ({env.cite('postgres.slow_query_seconds')}): " + "; ".join(
            f"pid {b.pid} {b.user}/{b.application or '-'} for {format_age(b.query_seconds or 0)}: {b.query}"
            for b in slow[:5])
    )
