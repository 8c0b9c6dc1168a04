"""The public surface is deliberate: __all__ lists exactly what is public, and what other modules
import from a module is in its __all__."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import subprocess
import sys

import pytest

from tests.suite.runner import REPO

MODULES = ["runbook.catalog", "runbook.plugin", "runbook.markers", "runbook.observed", "runbook.placeholders",
           "runbook.state", "runbook.verdict", "runbook.incidents", "runbook.listing", "runbook.source", "runbook.inventory", "reporting.results", "reporting.markdown",
           "fixtures.environment", "core.config", "core.jose",
           "fixtures.oauth", "fixtures.revocation", "core.errors", "core.secret", "transport.postgres",
           "fixtures.db_pool"]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_every_public_definition_is_listed(name):
    module = importlib.import_module(name)
    assert all(hasattr(module, n) for n in module.__all__)
    assigned = {target.id for node in ast.parse(inspect.getsource(module)).body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    defined_here = {
        n for n, value in vars(module).items()
        if not n.startswith(("_", "pytest_"))
        and ((isinstance(value, pytest.StashKey) and n in assigned)
             or (callable(value) and getattr(value, "__module__", None) == module.__name__))
    }
    assert defined_here - set(module.__all__) == set()


def _imports_from_project():
    """(importing file, module, name) for every ``from core.x / runbook.x / ... import name``."""
    for path in [*REPO.glob("*.py"), *REPO.glob("[!.]*/**/*.py")]:
        if ".venv" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in MODULES:
                for alias in node.names:
                    yield path.relative_to(REPO), node.module, alias.name


def _is_submodule(module: str, name: str) -> bool:
    """``from runbook import steps`` imports a module, not a name of the package's API."""
    return hasattr(importlib.import_module(module), "__path__") and importlib.util.find_spec(f"{module}.{name}") is not None


def test_what_other_modules_import_from_a_module_is_in_its_all():
    found = list(_imports_from_project())
    assert len(found) > 20, "the scan found too few imports: it is broken"
    private = [f"{path}: from {module} import {name}" for path, module, name in found
               if name not in importlib.import_module(module).__all__
               and not _is_submodule(module, name)]
    assert private == []


def test_the_catalog_api_imports_without_the_plugin():
    """In a fresh interpreter: importing the catalog does not import the plugin (nor pytest's hooks)."""
    code = ("import sys, runbook, runbook.catalog; "
            "assert 'runbook.plugin' not in sys.modules, 'the catalog imported the plugin'")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
