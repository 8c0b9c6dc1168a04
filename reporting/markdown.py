"""``--runbook-summary PATH`` (ini ``runbook_summary``; the command line wins): the run's findings
and their remediations in Markdown, written on the controller at the end of the session.

PYTEST_DONT_REWRITE: no asserts here; other plugins import SUMMARY_LEAD.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core import redact
from reporting.results import RESULTS, Results, note, remediations_of
from runbook.state import CATALOG, ENV_PLACEHOLDERS

__all__ = ["SUMMARY_LEAD", "cell", "markdown", "summary_path"]

#: Lines other plugins put at the top of the Markdown summary (run interrupted, changes since the
#: previous nightly report), on ``config.stash``; set before this plugin's trylast sessionfinish.
SUMMARY_LEAD = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runbook", "runbook checks")
    group.addoption(
        "--runbook-summary", dest="runbook_summary", metavar="PATH", default=None,
        help="write a Markdown summary of failed checks and their remediations to PATH "
             "(precedence: ini runbook_summary < --runbook-summary)",
    )
    parser.addini("runbook_summary", "Markdown summary path, relative to the ini file "
                  "(see --runbook-summary)", default=None)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    path = summary_path(config)
    results = config.stash.get(RESULTS, None)
    if path is None or results is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact.scrub(markdown(results, config, int(exitstatus))), encoding="utf-8")


def summary_path(config: pytest.Config) -> Path | None:
    cli = config.getoption("runbook_summary", None)
    if cli:
        return config.invocation_params.dir / cli
    ini = config.getini("runbook_summary")
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return base / ini
    return None


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def markdown(results: Results, config: pytest.Config, exitstatus: int) -> str:
    catalog = config.stash[CATALOG]
    env = config.stash.get(ENV_PLACEHOLDERS, {}).get("env", "unknown environment")
    counts = results.counts()
    total = sum(counts.values())
    lines = [f"# Runbook checks: {env}", "", *config.stash.get(SUMMARY_LEAD, [])]
    if not results.findings and counts["failed"] == counts["error"] == 0:
        if exitstatus == 0 and counts["passed"]:
            skipped = f" ({counts['skipped']} skipped)" if counts["skipped"] else ""
            lines.append(f"All {counts['passed']} checks passed{skipped}.")
        elif exitstatus in (0, 1, 5):
            lines.append(f"No check ran to a failure: {counts['passed']} passed, "
                         f"{counts['skipped']} skipped (pytest exit status {exitstatus}).")
        else:
            lines.append(f"The run stopped before the checks reported (pytest exit status "
                         f"{exitstatus}); see the terminal output.")
        return "\n".join(lines) + "\n"
    lines += [f"{counts['failed']} failed, {counts['error']} could not be verified or errored, "
              f"{counts['passed']} passed, {counts['skipped']} skipped ({total} checks).", "",
              "| Check | Outcome | Incident | Runbook step | Remediation | Message |",
              "|---|---|---|---|---|---|"]
    for f in results.sorted_findings():
        rid = f"`{f.remediation}`" if f.remediation else ""
        lines.append(f"| `{cell(f.nodeid)}` | {f.outcome} | {cell(f.incident)} | "
                     f"{cell(f.runbook_step)} | {rid} | "
                     f"{cell(f.message)} |")
    shown: dict[str, int] = {}  # rendered steps -> the section that holds them
    for number, group in enumerate(results.groups(catalog), 1):
        remediations = remediations_of(group, catalog)
        lines.append("")
        if group.key[0] == "cause":
            lines += [f"## {number}. Could not verify: {group.key[1]}", "",
                      "Blocked checks: " + ", ".join(f"`{f.nodeid}`" for f in group.findings)]
            if not remediations:
                said = note(group.key[1])
                lines += ["", said[0].upper() + said[1:]]
        else:
            heading = remediations[0][0].title if remediations else "No remediation named"
            lines += [f"## {number}. {heading}", "",
                      "Explains: " + ", ".join(f"`{f.nodeid}`" for f in group.findings)]
        for remediation, _, markdowns in remediations:
            lines.append("")
            if group.key[0] == "cause":
                lines += [f"### Suggested remediation: {remediation.title}", ""]
            lines.append(f"Runbook: *{remediation.section}* · `{remediation.id}` · "
                         f"priority {remediation.priority}")
            for markdown in markdowns:
                if markdown in shown:
                    lines += ["", f"Steps as in section {shown[markdown]} above."]
                    continue
                shown[markdown] = number
                lines += ["", markdown]
    return "\n".join(lines) + "\n"
