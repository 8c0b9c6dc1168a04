"""The suggested remediation in the JUnit XML, where CI front-ends show it: in a failed check's failure
text while junitxml reads the report, and out of the xunit2 testcase (whose schema has no properties).

PYTEST_DONT_REWRITE: no asserts here.
"""

from __future__ import annotations

import pytest

from runbook.catalog import Remediation
from runbook.state import CATALOG

__all__ = ["rule", "section"]


def section(remediation: Remediation, steps: str) -> tuple[str, str]:
    return (f"Suggested remediation: {remediation.title}",
            f"Runbook: {remediation.section} ({remediation.id})\n{steps}")


def rule(title: str) -> str:
    return f"{'-' * 10} {title} {'-' * 10}"


class _FailureText:
    """Bound to its config (reports carry everything, so xdist works)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport):
        """Collect results; give JUnit the suggested remediation in the failure text.

        While the other plugins (junitxml) see the report, its text carries the rendered steps;
        afterwards it is put back, so the terminal's failure sections stay short and the steps are
        printed once, grouped, in the "Suggested remediation" section.
        """
        props = dict(report.user_properties)
        remediation = self.config.stash[CATALOG].get(props.get("remediation", ""))
        on_worker = hasattr(self.config, "workerinput")  # xdist ships the report as it is now
        if not on_worker and report.when == "teardown" and self.config.getini("junit_family") == "xunit2":
            # junitxml writes a testcase's <properties> from its teardown report, and the xunit2
            # schema (Jenkins' xUnit junit-10.xsd) has none: there the remediation is in the failure
            # text, and every property is in --runbook-json. junit_family = legacy keeps them.
            saved, report.user_properties = report.user_properties, []
            try:
                return (yield)
            finally:
                report.user_properties = saved
        if on_worker or remediation is None or report.when not in ("setup", "call") or not report.failed:
            return (yield)
        original = report.longrepr
        title, text = section(remediation, props["remediation_steps"])
        sections = getattr(original, "sections", None)
        if isinstance(sections, list):
            sections.append((title, text, "-"))
        else:
            report.longrepr = f"{original}\n\n{rule(title)}\n{text}"
        try:
            return (yield)
        finally:
            if isinstance(sections, list):
                sections.remove((title, text, "-"))
            report.longrepr = original


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_FailureText(config), "runbook-junit")
