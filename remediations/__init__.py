"""The runbook's resolution steps as data (remediations/*.toml), and the plugin that suggests them.

Checks name their remediation with ``@pytest.mark.remediation("oauth.restart-pods")`` and record
values for its commands with the ``observed`` fixture; see :mod:`remediations.plugin`.
"""

from remediations.catalog import (
    BUILTIN_PLACEHOLDERS,
    CATALOG_DIR,
    ENVIRONMENT_PLACEHOLDERS,
    INCIDENTS,
    Catalog,
    CatalogError,
    Remediation,
    Step,
    load_catalog,
)

__all__ = [
    "BUILTIN_PLACEHOLDERS",
    "CATALOG_DIR",
    "Catalog",
    "CatalogError",
    "ENVIRONMENT_PLACEHOLDERS",
    "INCIDENTS",
    "Remediation",
    "Step",
    "load_catalog",
]
