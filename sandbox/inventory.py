"""What the project holds, read from its files without running anything: the checks (with their
markers), and the join runbook step -> checks -> remediation -> drills.

``python -m sandbox drills`` and ``python -m sandbox steps`` print it; the consistency tests use
the same scan, so the listing and the tests cannot disagree. The checks are read with ``ast``
(decorators with literal arguments, and the module's ``pytestmark``), not imported, so neither an
environment nor a sandbox is needed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHECKS_DIR", "Check", "scan_checks", "steps_report", "drills_report"]

CHECKS_DIR = Path(__file__).resolve().parent.parent / "checks"


@dataclass(frozen=True)
class Check:
    nodeid: str  # relative to checks/: "test_oauth.py::test_signing_key_is_published_in_jwks"
    markers: tuple[str, ...]  # every marker name, the module's pytestmark included
    remediation: str | None
    steps: tuple[str, ...]  # runbook step ids
    remediation_ids: tuple[str, ...] = ()  # the remediation and its identity_provider alternative

    @property
    def module(self) -> str:
        return self.nodeid.partition("::")[0]


def _marks(node: ast.AST) -> list[tuple[str, list]]:
    """``pytest.mark.<name>(<literal args>)`` expressions in a decorator or pytestmark value."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return [m for element in node.elts for m in _marks(element)]
    call = node if isinstance(node, ast.Call) else None
    target = call.func if call else node
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute) \
            and target.value.attr == "mark":
        args = [a.value for a in [*call.args, *(k.value for k in call.keywords)]
                if isinstance(a, ast.Constant)] if call else []
        return [(target.attr, args)]
    return []


def scan_checks(directory: Path = CHECKS_DIR) -> dict[str, Check]:
    """Every check function of ``checks/test_*.py``, by node id."""
    checks: dict[str, Check] = {}
    for path in sorted(directory.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module_marks = [m for node in tree.body if isinstance(node, ast.Assign)
                        and any(getattr(t, "id", "") == "pytestmark" for t in node.targets)
                        for m in _marks(node.value)]
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            marks = [m for decorator in node.decorator_list for m in _marks(decorator)] + module_marks
            ids = next((tuple(args) for name, args in marks if name == "remediation" and args), ())
            steps = tuple(step for name, args in marks if name == "runbook" for step in args)
            nodeid = f"{path.name}::{node.name}"
            checks[nodeid] = Check(nodeid, tuple(dict.fromkeys(name for name, _ in marks)),
                                   ids[0] if ids else None, steps, ids)
    return checks


def drills_report() -> str:
    """Per incident: each drill, the checks it must fail (or leave unverifiable), its remediations."""
    from sandbox.drills import by_incident

    lines = []
    for incident, drills in by_incident().items():
        lines.append(f"-m {incident}")
        for drill in drills:
            lines.append(f"  {drill.name:30} {drill.summary}")
            for nodeid in sorted(drill.fails):
                lines.append(f"  {'':30} fails  {nodeid}")
            for nodeid in sorted(drill.errors):
                lines.append(f"  {'':30} errors {nodeid}")
            lines.append(f"  {'':30} suggests {', '.join(sorted(drill.remediations))}")
        lines.append("")
    lines.append("run one: pytest -m <incident> --drill <name>")
    return "\n".join(lines)


def steps_report() -> str:
    """Each runbook step -> its checks -> their remediation -> the drills that fail them; then the
    steps no check automates."""
    from runbook.steps import load_steps
    from sandbox.drills import DRILLS

    checks = scan_checks()
    drills_for: dict[str, list[str]] = {}
    for drill in DRILLS.values():
        for nodeid in drill.fails:
            drills_for.setdefault(nodeid, []).append(drill.name)
    lines, uncovered = [], []
    for step in load_steps().values():
        covering = [c for c in checks.values() if step.id in c.steps]
        if not covering:
            uncovered.append(step)
            continue
        lines.append(f"{step.id}  {step.section}: {step.text}")
        for check in covering:
            drills = ", ".join(sorted(drills_for.get(check.nodeid, []))) or "none"
            lines.append(f"    {check.nodeid}")
            lines.append(f"        remediation {check.remediation}; drills: {drills}")
    total = len(load_steps())
    lines.append("")
    lines.append(f"{total - len(uncovered)} of {total} runbook steps have a check; "
                 f"{len(uncovered)} have none (done by hand or by a remediation):")
    lines += [f"    {step.id}  {step.section}: {step.text}" for step in uncovered]
    return "\n".join(lines)
