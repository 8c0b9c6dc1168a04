"""The public surface of remediations/ is deliberate: __all__ lists exactly what is public."""

from __future__ import annotations

import inspect

import pytest

import remediations
import remediations.catalog
import remediations.plugin


@pytest.mark.parametrize("module", [remediations, remediations.catalog, remediations.plugin],
                         ids=lambda m: m.__name__)
def test_all_names_exist_and_every_public_definition_is_listed(module):
    assert all(hasattr(module, name) for name in module.__all__)
    defined_here = {
        name for name, value in vars(module).items()
        if not name.startswith(("_", "pytest_"))
        and (isinstance(value, pytest.StashKey)
             or (callable(value) and getattr(value, "__module__", None) == module.__name__))
    }
    assert defined_here <= set(module.__all__)


def test_the_package_exports_the_catalog_api_without_importing_the_plugin():
    assert set(remediations.__all__) <= set(remediations.catalog.__all__)
