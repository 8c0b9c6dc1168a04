"""The catalog, the checks and the drills stay in step, both ways."""

from __future__ import annotations

import ast
from pathlib import Path

from remediations import load_catalog
from sandbox.drills import DRILLS
from tests.suite.runner import REPO

CHECKS = REPO / "checks"


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            yield node


def check_remediations() -> dict[str, str]:
    """check function name -> the id of its remediation marker."""
    named = {}
    for path in CHECKS.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                for decorator in node.decorator_list:
                    if (isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "remediation"):
                        named[node.name] = decorator.args[0].value
    return named


def fixture_remediations() -> set[str]:
    """Ids fixtures name in ``Unverifiable(..., remediation=...)``."""
    ids = set()
    for path in (REPO / "fixtures").glob("*.py"):
        for call in _calls(path):
            if getattr(call.func, "id", "") == "Unverifiable":
                ids.update(k.value.value for k in call.keywords if k.arg == "remediation")
    return ids


def test_every_remediation_named_by_a_check_or_fixture_is_in_the_catalog():
    catalog = load_catalog()
    named = set(check_remediations().values()) | fixture_remediations()
    assert named, "found no remediation ids: the scan is broken"
    assert named - set(catalog) == set()


def test_every_catalog_entry_of_an_incident_with_checks_is_used():
    catalog = load_catalog()
    incidents = {path.stem.removeprefix("test_") for path in CHECKS.glob("test_*.py")}
    used = set(check_remediations().values()) | fixture_remediations()
    unused = {rid for rid, entry in catalog.items() if entry.incident in incidents and rid not in used}
    assert unused == set(), f"catalog entries no check suggests: {sorted(unused)}"


def test_every_check_has_a_drill_that_fails_it_and_every_drill_names_real_checks():
    checks = set(check_remediations())
    failed_by_some_drill = set().union(*(d.fails for d in DRILLS.values()))
    assert checks - failed_by_some_drill == set(), "checks no drill fails: they have no FAIL run"
    named = failed_by_some_drill.union(*(d.errors for d in DRILLS.values()))
    assert named - checks == set(), "drills name checks that do not exist"


def test_every_drill_expects_the_remediations_of_the_checks_it_fails():
    by_check = check_remediations()
    for drill in DRILLS.values():
        assert {by_check[name] for name in drill.fails} <= drill.remediations, drill.name
