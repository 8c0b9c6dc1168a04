"""The catalog, the checks, the runbook's steps and the drills stay in step, both ways, keyed by
node id (``test_<incident>.py::test_name``) so names cannot collide across the incident modules."""

from __future__ import annotations

import ast
from pathlib import Path

from runbook.catalog import load_catalog
from runbook.incidents import INCIDENTS
from runbook.inventory import scan_checks
from runbook.steps import load_steps
from sandbox.drills import DRILLS
from tests.suite.runner import REPO

CHECKS = scan_checks()


def fixture_remediations() -> set[str]:
    """Ids fixtures name in ``Unverifiable(..., remediation=...)``."""
    ids = set()
    for path in [p for layer in ("core", "transport", "fixtures") for p in (REPO / layer).glob("*.py")]:
        for call in ast.walk(ast.parse(path.read_text())):
            if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Unverifiable":
                ids.update(n.value for k in call.keywords if k.arg == "remediation"
                           for n in ast.walk(k.value) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return ids


def test_the_scan_finds_the_checks_with_their_markers():
    assert len(CHECKS) >= 13, "found too few checks: the scan is broken"
    check = CHECKS["test_oauth.py::test_signing_key_is_published_in_jwks"]
    assert check.remediation == "oauth.restart-pods"
    assert "oauth" in check.markers and check.steps


def test_every_check_has_an_incident_marker_a_remediation_and_a_known_runbook_step():
    steps = load_steps()
    for check in CHECKS.values():
        assert set(check.markers) & set(INCIDENTS), f"{check.nodeid} has no incident marker"
        assert check.remediation, f"{check.nodeid} names no remediation"
        assert check.steps, f"{check.nodeid} names no runbook step"
        assert set(check.steps) <= set(steps), f"{check.nodeid}: unknown runbook steps " \
                                               f"{sorted(set(check.steps) - set(steps))}"


def test_every_remediation_named_by_a_check_or_fixture_is_in_the_catalog():
    catalog = load_catalog()
    named = {r for c in CHECKS.values() for r in c.remediation_ids} | fixture_remediations()
    assert named - set(catalog) == set()


def test_every_catalog_entry_of_an_incident_with_checks_is_used():
    catalog = load_catalog()
    incidents = {Path(c.module).stem.removeprefix("test_") for c in CHECKS.values()}
    used = {r for c in CHECKS.values() for r in c.remediation_ids} | fixture_remediations()
    unused = {rid for rid, entry in catalog.items() if entry.incident in incidents and rid not in used}
    assert unused == set(), f"catalog entries no check suggests: {sorted(unused)}"


def test_every_check_has_a_drill_that_fails_it_and_every_drill_names_real_checks():
    failed_by_some_drill = set().union(*(d.fails for d in DRILLS.values()))
    assert set(CHECKS) - failed_by_some_drill == set(), "checks no drill fails: they have no FAIL run"
    named = failed_by_some_drill.union(*(d.errors for d in DRILLS.values()))
    assert named - set(CHECKS) == set(), "drills name checks that do not exist"


def test_every_drill_runs_an_incident_marker_its_checks_carry():
    for drill in DRILLS.values():
        assert drill.incident in INCIDENTS, drill.name
        for nodeid in drill.fails | drill.errors:
            assert drill.incident in CHECKS[nodeid].markers, f"{drill.name}: `-m {drill.incident}` " \
                                                            f"does not select {nodeid}"


def test_every_drill_expects_the_remediations_of_the_checks_it_fails():
    for drill in DRILLS.values():
        assert {CHECKS[nodeid].remediation for nodeid in drill.fails} <= drill.remediations, drill.name


def test_every_drill_module_is_named_for_an_incident_and_its_drills_for_its_incident():
    modules = {p.stem for p in (REPO / "sandbox" / "drills").glob("*.py")} - {"__init__"}
    assert modules <= set(INCIDENTS), sorted(modules - set(INCIDENTS))
