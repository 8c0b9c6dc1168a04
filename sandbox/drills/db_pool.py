"""Drills for Incident 2: Database Connection Pool Exhausted, and Incident 1's slow queries.

Each acts on the sandbox's real PostgreSQL through real connections (sandbox/faults.py); where the
runbook's threshold is a duration, the drill waits until the sandbox's (scaled-down) threshold is
crossed, so the suite sees what production would after ten minutes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sandbox.drills import Drill, node_ids

if TYPE_CHECKING:
    from sandbox.faults import Faults

__all__ = ["DRILLS", "SLOW_QUERY_LITERAL"]

_MARGIN_S = 0.5
NEAR_FULL_FREE = 3  # slots left free, below the default 20% headroom of the sandbox's 37
LEAKED_CONNECTIONS = 8  # above the default db_pool.max_idle = 5
OVERSIZED_POOL = 5  # x the HPA's maxReplicas 10 = 50, above the sandbox's 37 usable slots
# Query text holds personal data: the suite must print this query with the literal as ?.
SLOW_QUERY_LITERAL = "4111-1111-1111-1111"


_checks = node_ids("test_db_pool.py")


def _exhaust(faults: "Faults") -> None:
    """A connection leak in the app: new connections until the server refuses the next one."""
    pool = faults.pg_hold(None)
    if pool.refusal is None:
        raise RuntimeError("the sandbox's PostgreSQL never refused a connection")


def _near_full(faults: "Faults") -> None:
    """A burst of traffic: the app's pods take all but NEAR_FULL_FREE of the usable slots."""
    from sandbox.cluster import APP_POOL_SIZE

    usable = faults.pg_usable_slots()
    faults.pg_hold(usable - APP_POOL_SIZE * len(faults.app_pods) - NEAR_FULL_FREE)


def _idle_leak(faults: "Faults") -> None:
    """The app leaks connections it never uses again; they sit idle past the threshold."""
    from sandbox.stack import IDLE_MINUTES

    faults.pg_hold(LEAKED_CONNECTIONS)
    time.sleep(IDLE_MINUTES * 60 + _MARGIN_S)


def _idle_in_transaction(faults: "Faults") -> None:
    """A code path opened a transaction, locked a row, and never committed."""
    from sandbox.stack import IDLE_IN_TRANSACTION_S

    faults.pg_idle_in_transaction("SELECT id FROM videos WHERE id = 1 FOR UPDATE")
    time.sleep(IDLE_IN_TRANSACTION_S + _MARGIN_S)


def _oversized_pool(faults: "Faults") -> None:
    """values.yaml raised database.pool_size (the runbook's temporary fix) past what fits."""
    deployment = faults.kube_get("Deployment", "app-backend", api_version="apps/v1")
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for var in container.get("env") or []:
            if var["name"] == "DATABASE_POOL_SIZE":
                var["value"] = str(OVERSIZED_POOL)
    faults.kube_apply(deployment)


def _slow_query(faults: "Faults") -> None:
    """A report query that burns CPU for minutes, with a card number in its text."""
    from sandbox.stack import SLOW_QUERY_S

    faults.pg_run(f"SELECT count(*) FROM videos v, pg_sleep(600) WHERE v.title <> '{SLOW_QUERY_LITERAL}'")
    time.sleep(SLOW_QUERY_S + _MARGIN_S)


_NEED_CONNECTION = _checks(
    "test_connection_headroom_is_above_minimum",
    "test_idle_connections_within_limit",
    "test_no_transaction_left_idle_open",
    "test_pool_size_times_replicas_fits_usable_slots",
    "test_no_query_runs_longer_than_limit",
)

DRILLS = [
    Drill("db_pool-exhausted", "db_pool",
          "leaked app connections fill every slot: the server refuses new clients",
          _exhaust,
          fails=_checks("test_postgres_accepts_the_suite_connection"), errors=_NEED_CONNECTION,
          remediations=frozenset({"db_pool.free-slots"})),
    Drill("db_pool-near-full", "db_pool",
          f"a traffic burst leaves {NEAR_FULL_FREE} free connection slots, below db_pool.min_headroom_percent",
          _near_full,
          fails=_checks("test_connection_headroom_is_above_minimum"),
          remediations=frozenset({"db_pool.restart-pods"})),
    Drill("db_pool-idle-leak", "db_pool",
          f"{LEAKED_CONNECTIONS} app connections sit idle past db_pool.idle_minutes",
          _idle_leak,
          fails=_checks("test_idle_connections_within_limit"),
          remediations=frozenset({"db_pool.kill-idle"})),
    Drill("db_pool-idle-in-transaction", "db_pool",
          "an app session holds a row lock in a transaction it never commits",
          _idle_in_transaction,
          fails=_checks("test_no_transaction_left_idle_open"),
          remediations=frozenset({"db_pool.find-connection-leaks"})),
    Drill("db_pool-oversized", "db_pool",
          f"DATABASE_POOL_SIZE raised to {OVERSIZED_POOL}: x the HPA's maxReplicas it exceeds the usable slots",
          _oversized_pool,
          fails=_checks("test_pool_size_times_replicas_fits_usable_slots"),
          remediations=frozenset({"db_pool.resize-pool"})),
    Drill("cpu-slow-query", "cpu",
          "a query has been running (pg_sleep) past postgres.slow_query_seconds, a card number in its text",
          _slow_query,
          fails=_checks("test_no_query_runs_longer_than_limit"),
          remediations=frozenset({"cpu.find-expensive-queries"})),
]
