"""The run's findings on the controller: each failed or unverifiable check with its message, its
remediation and its cause, grouped by root cause (one cause, or one remediation), most urgent first.
The terminal section and the Markdown summary are written from these groups.

PYTEST_DONT_REWRITE: no asserts here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from runbook.catalog import Catalog, Remediation
from runbook.incidents import INCIDENTS
from runbook.state import CAUSE, MARKDOWN
from runbook.verdict import report_outcome

__all__ = ["RESULTS", "Finding", "Group", "Results", "note", "one_line", "remediations_of"]

#: The run's results, on ``config.stash`` (every process; the controller's are the run's).
RESULTS = pytest.StashKey["Results"]()


@dataclass
class Finding:
    nodeid: str
    outcome: str  # FAILED or ERROR
    message: str
    incident: str
    runbook_step: str
    remediation: str | None
    cause: str | None
    steps: str
    markdown: str


@dataclass
class Group:
    key: tuple[str, str]
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Results:
    outcomes: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def add(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.outcomes[report.nodeid] = report_outcome(report)
        elif report.when == "teardown" and report.failed:
            if self.outcomes.get(report.nodeid, "passed") == "passed":
                self.outcomes[report.nodeid] = "error"
        if not (report.failed and report.when in ("setup", "call")):
            return
        props = dict(report.user_properties)
        cause = props.get(CAUSE)
        self.findings.append(Finding(
            nodeid=report.nodeid,
            outcome="FAILED" if report_outcome(report) == "failed" else "ERROR",
            message=f"could not verify: {cause}" if cause else one_line(report),
            incident=str(props.get("incident", "")),
            runbook_step=str(props.get("runbook_step", "")),
            remediation=props.get("remediation"),
            cause=cause,
            steps=str(props.get("remediation_steps", "")),
            markdown=str(props.get(MARKDOWN, "")),
        ))

    def sorted_findings(self) -> list[Finding]:
        """By node id: stable whatever order xdist workers report in."""
        return sorted(self.findings, key=lambda f: f.nodeid)

    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for outcome in self.outcomes.values():
            counts[outcome] += 1
        return counts

    def groups(self, catalog: Catalog) -> list[Group]:
        groups: dict[tuple[str, str], Group] = {}
        for finding in self.sorted_findings():
            key = ("cause", finding.cause) if finding.cause else ("id", finding.remediation or "")
            groups.setdefault(key, Group(key)).findings.append(finding)

        order = {rid: index for index, rid in enumerate(catalog)}

        def urgency(group: Group) -> tuple[int, int, int]:
            """Priority, then incident order, then the runbook's order of the entries; at equal
            rank, what is broken comes before what it blocks from being verified."""
            blocked = group.key[0] == "cause"
            ranks = [(catalog[f.remediation].priority,
                      INCIDENTS.index(catalog[f.remediation].incident), order[f.remediation], blocked)
                     for f in group.findings if f.remediation in catalog]
            return min(ranks, default=(10**6, len(INCIDENTS), len(order), blocked))

        return sorted(groups.values(), key=urgency)


def one_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    line = text.strip().splitlines()[0] if text.strip() else report.outcome
    return re.sub(r"^AssertionError: ", "", line)


def remediations_of(group: Group, catalog: Catalog) -> list[tuple[Remediation, list[str], list[str]]]:
    """Each remediation in the group with its distinct renderings (text, Markdown)."""
    out: dict[str, tuple[Remediation, list[str], list[str]]] = {}
    for finding in group.findings:
        if finding.remediation not in catalog:
            continue
        _, texts, markdowns = out.setdefault(
            finding.remediation, (catalog[finding.remediation], [], []))
        if finding.steps not in texts:
            texts.append(finding.steps)
            markdowns.append(finding.markdown)
    return list(out.values())


_NO_REMEDIATION = ("no runbook remediation applies: the suite itself could not reach or read this "
                   "(credentials, RBAC, network); fix that and re-run")


_UNEXPECTED_NOTE = ("no runbook remediation applies: an unexpected error is a bug of the suite or a peer "
                    "answering nonsense, not evidence of an incident; re-run with -l --tb=long and report it")


def note(cause: str) -> str:
    return _UNEXPECTED_NOTE if cause.startswith("unexpected ") else _NO_REMEDIATION


class _Collector:
    """Gathers every report into the run's :class:`Results` before other plugins see it changed."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport):
        self.config.stash[RESULTS].add(report)
        return (yield)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RESULTS] = Results()
    config.pluginmanager.register(_Collector(config), "runbook-results")
