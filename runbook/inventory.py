"""The checks of checks/, read with ``ast`` (decorators with literal arguments, and the module's
``pytestmark``), not imported: their markers, remediation and runbook step ids, with no environment,
no sandbox and no collection. ``pytest --runbook-steps`` (:mod:`runbook.listing`), ``python -m sandbox
steps|drills`` and the consistency tests use this one scan, so the listings and the tests cannot disagree.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHECKS_DIR", "Check", "scan_checks"]

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
