"""The ``observed`` fixture: a check records values for its remediation's commands (pod names, PIDs).

PYTEST_DONT_REWRITE: no asserts here.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from core.config import ENVIRONMENT
from core.secret import Secret
from runbook.markers import remediation_id
from runbook.placeholders import alternatives
from runbook.state import CATALOG, OBSERVATIONS

__all__ = ["environment_alternatives", "observed"]


def environment_alternatives(config: pytest.Config) -> frozenset[str]:
    """The remediation markers' alternative keywords that apply to the environment being checked."""
    return alternatives(config.stash.get(ENVIRONMENT, None))


@pytest.fixture
def observed(request: pytest.FixtureRequest):
    """Record values for the remediation's commands: ``observed(pod_name="app-backend-7d9f")``.

    Names must be observations the check's remediation declares; secrets are refused.
    """
    item = request.node
    store = item.stash.setdefault(OBSERVATIONS, {})
    catalog = request.config.stash[CATALOG]
    remediation = catalog.get(remediation_id(item, alternatives=environment_alternatives(request.config)) or "")

    def record(**values: object) -> None:
        for name, value in values.items():
            if _contains_secret(value):
                raise TypeError(f"observed({name}=...): a Secret is never rendered into a "
                                "remediation; record a non-secret value (a name, a thumbprint)")
            if remediation is not None and name not in remediation.observations:
                declared = ", ".join(remediation.observations) or "none"
                raise TypeError(f"observed({name}=...): remediation {remediation.id} declares "
                                f"no observation {name!r} (declared: {declared})")
        store.update(values)

    return record


def _contains_secret(value: object) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_contains_secret(v) for v in value)
    if isinstance(value, Mapping):
        return any(_contains_secret(v) for v in value.values())
    return False
