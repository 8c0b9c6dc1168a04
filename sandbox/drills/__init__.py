"""Drills: one runbook incident injected into the sandbox, and what the suite must then report.

``pytest -m oauth --drill oauth-key-mismatch`` starts the sandbox, applies the drill, and runs the
checks. Each drill declares the checks it must fail (or leave unverifiable), by node id relative to
``checks/`` (``test_oauth.py::test_signing_key_is_published_in_jwks``), and the remediations the suite
must suggest; the project's tests hold the suite to exactly that, and on-call engineers use drills
to rehearse (``python -m sandbox drills`` lists them by incident).

One module per incident (``sandbox/drills/<incident>.py``), each defining ``DRILLS``; a drill acts on
the sandbox only through its fault API (:mod:`sandbox.faults`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

from runbook.incidents import INCIDENTS

if TYPE_CHECKING:
    from sandbox.faults import Faults

__all__ = ["DRILLS", "Drill", "RESOLVED_BY", "by_incident", "failing", "node_ids"]

#: The incident modules, in runbook order: one per incident marker (runbook/incidents.py).
MODULES = INCIDENTS


@dataclass(frozen=True)
class Drill:
    name: str
    incident: str  # the marker whose checks rehearse it: `pytest -m <incident> --drill <name>`
    summary: str
    apply: Callable[["Faults"], None]
    fails: frozenset[str]  # node ids of the checks that must FAIL
    errors: frozenset[str] = frozenset()  # node ids of the checks that must ERROR (could not verify)
    remediations: frozenset[str] = frozenset()  # catalog ids the suite must suggest
    # What ends it when rehearsed (`python -m sandbox rehearse NAME --auto`): "steps" (the printed
    # commands), "caution" (a CAUTION step among them), or "" while no rehearsal has shown it yet.
    resolved_by: str = ""

    def __post_init__(self) -> None:
        if self.resolved_by not in ("", "steps", "caution"):
            raise ValueError(f"drill {self.name}: resolved_by {self.resolved_by!r} is not steps, caution or empty")
        for nodeid in self.fails | self.errors:
            module, sep, name = nodeid.partition("::")
            if not (sep and module.startswith("test_") and module.endswith(".py") and name.startswith("test_")):
                raise ValueError(f"drill {self.name}: {nodeid!r} is not a node id like "
                                 "'test_oauth.py::test_signing_key_is_published_in_jwks'")


def node_ids(module: str):
    """``node_ids("test_cpu.py")("test_a", "test_b")``: the node ids of checks of one module, as drills name them."""
    def ids(*names: str) -> frozenset[str]:
        return frozenset(f"{module}::{name}" for name in names)

    return ids


def _gather() -> dict[str, Drill]:
    drills: dict[str, Drill] = {}
    for module in MODULES:
        try:
            found = importlib.import_module(f"sandbox.drills.{module}").DRILLS
        except ModuleNotFoundError as exc:
            if exc.name != f"sandbox.drills.{module}":
                raise
            continue  # that incident has no drills yet
        for drill in found:
            if drill.name in drills:
                raise ValueError(f"drill {drill.name} is defined twice")
            drills[drill.name] = drill
    return drills


def by_incident() -> dict[str, list[Drill]]:
    """The drills grouped by the incident they rehearse, in runbook order."""
    grouped: dict[str, list[Drill]] = {}
    for drill in sorted(DRILLS.values(), key=lambda d: MODULES.index(d.incident)):
        grouped.setdefault(drill.incident, []).append(drill)
    return grouped


#: The drills a rehearsal resolves today, and how (bench/results/rehearsals.md; tests/suite/test_rehearse.py
#: holds each to it). The others wait for the real control plane or a fix of their remedy.
RESOLVED_BY = {
    "cpu-node-pressure": "caution", "cpu-slow-query": "caution", "db_pool-idle-leak": "caution",
    "db_pool-oversized": "steps", "oauth-key-mismatch": "steps", "oauth-secret-incomplete": "steps",
    "oauth-secret-mismatched-pair": "steps", "oauth-revocation-no-ttl": "steps",
    "s3-trust-policy-wrong-subject": "steps", "s3-key-policy-without-app": "steps", "s3-policy-denies-put": "steps",
    "s3-role-policy-missing": "steps", "s3-kms-disabled": "caution", "s3-kms-pending-deletion": "caution",
    "s3-service-account-unbound": "steps", "s3-alarm-missing": "steps", "memory-near-limit": "steps",
    "memory-crashloop": "steps", "outage-app-scaled-to-zero": "steps", "breach-encryption-off": "steps",
    "breach-versioning-suspended": "steps",
}


def _with_resolution(drills: dict[str, Drill]) -> dict[str, Drill]:
    unknown = set(RESOLVED_BY) - set(drills)
    if unknown:
        raise ValueError(f"RESOLVED_BY names drills that do not exist: {sorted(unknown)}")
    return {name: replace(drill, resolved_by=RESOLVED_BY.get(name, drill.resolved_by)) for name, drill in drills.items()}


DRILLS: dict[str, Drill] = _with_resolution(_gather())


def failing(nodeid: str) -> list[str]:
    """The names of the drills that must fail a check (node id relative to checks/): the drills that rehearse it."""
    return sorted(drill.name for drill in DRILLS.values() if nodeid in drill.fails)
