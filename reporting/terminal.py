"""The "Suggested remediation" section of the terminal summary, on the controller (or the single
process): one entry per root cause, most urgent first, each remediation's steps printed once.

PYTEST_DONT_REWRITE: no asserts here.
"""

from __future__ import annotations

import pytest

from reporting.results import RESULTS, note, remediations_of
from runbook.state import CATALOG

__all__: list[str] = []


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """The \"Suggested remediation\" section, on the controller, grouped by root cause."""
    results = config.stash.get(RESULTS, None)
    if results is None or not results.findings:
        return
    catalog = config.stash[CATALOG]
    tr = terminalreporter
    tr.write_sep("=", "Suggested remediation")
    shown: dict[str, int] = {}  # rendered steps -> the group that printed them
    for number, group in enumerate(results.groups(catalog), 1):
        tr.line("")
        remediations = remediations_of(group, catalog)
        if group.key[0] == "cause":
            tr.line(f"[{number}] could not verify: {group.key[1]}", bold=True)
            tr.line("    blocked checks:")
            for finding in group.findings:
                tr.line(f"      {finding.outcome} {finding.nodeid}")
            if not remediations:
                tr.line(f"    {note(group.key[1])}")
        else:
            heading = remediations[0][0].title if remediations else "no remediation named"
            tr.line(f"[{number}] {heading}", bold=True)
            tr.line("    checks:")
            for finding in group.findings:
                tr.line(f"      {finding.outcome} {finding.nodeid} - {finding.message}")
        for remediation, texts, _ in remediations:
            if group.key[0] == "cause":
                tr.line(f"    suggested remediation: {remediation.title}")
            tr.line(f"    runbook: {remediation.section} ({remediation.id}, "
                    f"priority {remediation.priority})")
            for text in texts:
                if text in shown:
                    tr.line(f"    steps: as in [{shown[text]}] above")
                    continue
                shown[text] = number
                tr.line("")
                for line in text.splitlines():
                    tr.line(f"    {line}")

