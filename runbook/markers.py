"""The markers a check carries: ``@pytest.mark.remediation(id)`` (with an alternative entry under a
keyword, ``identity_provider=other_id``), the incident markers, and what is wrong with them at collection.

PYTEST_DONT_REWRITE: no asserts here.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from runbook.catalog import Catalog
from runbook.incidents import INCIDENTS
from runbook.placeholders import ALTERNATIVE_KEYWORDS
from runbook.steps import MARKER as STEP_MARKER
from runbook.steps import RunbookStep, marker_problems

__all__ = ["MARKER", "collection_problems", "incident_markers", "remediation_id", "used_ids"]

MARKER = "remediation"


def remediation_id(item: pytest.Item, *, alternatives: frozenset[str] = frozenset()) -> str | None:
    """The id the item's ``remediation`` marker names, if it has exactly one well-formed marker; its
    alternative instead when the marker names one under a keyword in ``alternatives`` (the environment's,
    :func:`runbook.placeholders.alternatives`)."""
    ids = _marker_ids(item)
    if ids is None:
        return None
    marker = item.get_closest_marker(MARKER)
    return next((rid for keyword, rid in marker.kwargs.items() if keyword in alternatives), ids[0])


def _marker_ids(item: pytest.Item) -> tuple[str, ...] | None:
    """The ids of a well-formed marker: the main one, then the identity-provider one if named."""
    markers = list(item.iter_markers(MARKER))
    if len(markers) != 1 or len(markers[0].args) != 1 or set(markers[0].kwargs) - ALTERNATIVE_KEYWORDS:
        return None
    ids = (markers[0].args[0], *markers[0].kwargs.values())
    return ids if all(isinstance(rid, str) for rid in ids) else None


def incident_markers(item: pytest.Item) -> list[str]:
    """The item's incident markers, closest first, without repeats."""
    names: list[str] = []
    for marker in item.iter_markers():
        if marker.name in INCIDENTS and marker.name not in names:
            names.append(marker.name)
    return names


def used_ids(items: Iterable[pytest.Item]) -> dict[str, list[str]]:
    """Catalog ids named by the items' markers, each with the node ids of the checks naming it."""
    used: dict[str, list[str]] = {}
    for item in items:
        for rid in _marker_ids(item) or ():
            used.setdefault(rid, []).append(item.nodeid)
    return used


def collection_problems(items: list[pytest.Item], catalog: Catalog, steps: dict[str, RunbookStep]) -> list[str]:
    """Every incident check names exactly one known remediation and known runbook steps: what is not so."""
    problems = []
    for item in items:
        markers = list(item.iter_markers(MARKER))
        incidents = incident_markers(item)
        if incidents or item.get_closest_marker(STEP_MARKER):
            problems += marker_problems(item, steps)
        if not markers:
            if incidents:
                ids = ", ".join(catalog.for_incident(incidents[0]))
                problems.append(f"{item.nodeid}: check marked {', '.join(incidents)} has no "
                                f"@pytest.mark.remediation(id); {incidents[0]} remediations: {ids}")
            continue
        if len(markers) > 1:
            names = ", ".join(repr(m.args[0]) if m.args else "()" for m in markers)
            problems.append(f"{item.nodeid}: {len(markers)} remediation markers ({names}); "
                            "name exactly one")
            continue
        ids = _marker_ids(item)
        if ids is None:
            problems.append(f"{item.nodeid}: remediation marker takes one id string and optionally "
                            "identity_provider=<id>, e.g. @pytest.mark.remediation(\"oauth.restart-pods\")")
        for rid in (r for r in ids or () if r not in catalog):
            close = catalog.suggest(rid)
            hint = f"did you mean {close!r}?" if close else "see remediations/*.toml"
            problems.append(f"{item.nodeid}: unknown remediation {rid!r} ({hint})")
    return problems
