"""The runbook plugin's state: its keys on ``config.stash`` and ``item.stash``, and the names of the
properties it records on a check's reports.

PYTEST_DONT_REWRITE: no asserts here, and conftests may import ENV_PLACEHOLDERS before the plugin loads.
"""

from __future__ import annotations

import pytest

from runbook.catalog import Catalog

__all__ = ["CATALOG", "CAUSE", "ENV_PLACEHOLDERS", "MARKDOWN", "OBSERVATIONS"]

#: Values for the remediation commands from the environment config (never secrets).
ENV_PLACEHOLDERS = pytest.StashKey[dict[str, str]]()


#: The loaded catalog, on ``config.stash``.
CATALOG = pytest.StashKey[Catalog]()


#: A check's recorded observations, on ``item.stash``.
OBSERVATIONS = pytest.StashKey[dict[str, object]]()

#: The property of a check that could not be verified: its cause, one line.
CAUSE = "could_not_verify"
#: On the report only: the rendered remediation in Markdown, which the controller writes the summary from.
MARKDOWN = "remediation_markdown"
