"""What a failed check's reports say: FAILED (unhealthy), or ERROR with one line, ``could not
verify: <cause>`` (a :class:`~core.errors.Unverifiable`, or an unexpected exception, which never
carries the check's remediation); and, when a remediation applies, its steps rendered for this
environment and this check's observations, on ``item.user_properties`` and the report.

PYTEST_DONT_REWRITE: no asserts here.
"""

from __future__ import annotations

import re

import pytest

from core.errors import Unverifiable
from runbook.markers import incident_markers, remediation_id
from runbook.observed import environment_alternatives
from runbook.state import CATALOG, CAUSE, ENV_PLACEHOLDERS, MARKDOWN, OBSERVATIONS
from runbook.steps import step_ids

__all__ = ["WHILE", "attach", "mark_while", "report_outcome", "unexpected"]

WHILE = "_runbook_checks_while"  # set on an exception: what the suite was doing when it rose


def mark_while(exc: BaseException, what: str) -> None:
    """Remember on an exception what the suite was doing when it rose (the innermost fixture wins)."""
    if not hasattr(exc, WHILE):
        try:
            setattr(exc, WHILE, what)
        except (AttributeError, TypeError):  # an exception type without a __dict__
            pass


def unexpected(exc: BaseException, when: str) -> str:
    """``unexpected RecursionError while setting up fixture jwks``: a crash, not a verdict."""
    what = getattr(exc, WHILE, None) or {"setup": "setting up the check", "call": "running the check",
                                          "teardown": "tearing down"}.get(when, when)
    message = str(exc)
    if isinstance(exc, pytest.fail.Exception) and message.startswith("Timeout"):
        limit = re.sub(r"[^0-9.]", "", message.split(")")[0])
        return f"unexpected timeout (pytest-timeout's limit of {limit} s, ini key timeout) while {what}"
    return f"unexpected {type(exc).__name__} while {what}"


def attach(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    config = item.config
    catalog = config.stash[CATALOG]
    rid = remediation_id(item, alternatives=environment_alternatives(config))
    cause = None
    exc = call.excinfo.value if call.excinfo is not None else None
    if exc is not None and not isinstance(exc, (AssertionError, Unverifiable)):
        # A crash (RecursionError, MemoryError, pytest-timeout, a bug) is no evidence of an
        # incident: could not verify, and no runbook step, whatever the check's own remediation.
        cause = unexpected(exc, report.when)
        report.longrepr = f"could not verify: {cause}\n\n{report.longrepr}"
        rid = None
    elif isinstance(exc, Unverifiable):
        error = call.excinfo.value
        cause = " ".join(str(error.cause).split()) or type(error).__name__
        report.longrepr = f"could not verify: {cause}"
        if error.suite_access:
            rid = None  # the suite's own access: no runbook step applies
        elif error.remediation in catalog:
            rid = error.remediation
        elif error.remediation:
            report.longrepr += f" (unknown remediation {error.remediation!r} in Unverifiable)"
    remediation = catalog.get(rid or "")
    properties: list[tuple[str, str]] = []
    if cause is not None:
        properties.append((CAUSE, cause))
    incident = ",".join(incident_markers(item)) or (remediation.incident if remediation else "")
    if incident:
        properties.append(("incident", incident))
    if ids := step_ids(item):
        properties.append(("runbook_step", " ".join(ids)))
    if remediation is not None:
        values = {**config.stash.get(ENV_PLACEHOLDERS, {}), **item.stash.get(OBSERVATIONS, {})}
        steps = remediation.render(values)
        properties += [
            ("remediation", remediation.id),
            ("runbook_section", remediation.section),
            ("remediation_steps", steps),
        ]
    item.user_properties.extend(properties)
    report.user_properties.extend(properties)
    if remediation is not None:
        report.user_properties.append((MARKDOWN, remediation.render_markdown(values)))


def report_outcome(report: pytest.TestReport) -> str:
    """passed, skipped, failed (in the check itself) or error (in its setup or teardown)."""
    if report.passed:
        return "passed"
    if report.skipped:
        return "skipped"
    could_not_verify = any(key == CAUSE for key, _ in report.user_properties)
    return "failed" if report.when == "call" and not could_not_verify else "error"
