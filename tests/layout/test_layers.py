"""The layout's layers import one way: core <- transport <- fixtures <- checks; the runbook plugin
reads core; reporting reads runbook and core; the sandbox is imported by none of them. Read from the
source with ``ast`` (imports inside functions included), so a lazy import cannot hide."""

from __future__ import annotations

import ast

import pytest

from tests.suite.runner import REPO

#: What each layer may import from the project, besides itself.
ALLOWED = {
    "core": set(),
    "transport": {"core"},
    "fixtures": {"core", "transport"},
    "checks": {"core", "transport", "fixtures"},
    "runbook": {"core"},
    "reporting": {"core", "runbook"},
}
LAYERS = {*ALLOWED, "sandbox", "remediations", "tests", "bench", "environments", "deploy"}


def project_imports(layer: str):
    """(file, imported top-level package) for every import of a project package in a layer."""
    for path in sorted((REPO / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top in LAYERS and top != layer:
                    yield path.relative_to(REPO), top


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below_it(layer):
    wrong = [f"{path} imports {top}" for path, top in project_imports(layer) if top not in ALLOWED[layer]]
    assert wrong == []


def test_the_scan_sees_the_imports_it_judges():
    assert ("fixtures", "transport") in {(str(p).partition("/")[0], top) for p, top in project_imports("fixtures")}
    assert {top for _, top in project_imports("reporting")} == {"core", "runbook"}


def test_the_suites_conftest_loads_no_sandbox_module():
    tree = ast.parse((REPO / "conftest.py").read_text(encoding="utf-8"))
    plugins = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                   and node.targets[0].id == "pytest_plugins")
    names = [element.value for element in plugins.elts]
    assert names and not [name for name in names if name.partition(".")[0] not in ALLOWED]
