"""Reports people and machines read, besides the terminal, JUnit XML and the Markdown summary.

- ``--runbook-json PATH``: one record per check (node id, incident, runbook steps, outcome,
  duration, evidence, remediation id and its rendered steps), plus the run's verdict.
- pytest-html (``--html PATH``): Incident, Runbook step and Remediation columns in the results table.
- ``--pushgateway URL``: per-check and per-incident gauges pushed to a Prometheus Pushgateway
  (passed, failed, duration, last success timestamp; labels environment, incident, check) under the
  grouping key ``job="runbook-checks", environment=<env>``.
- ``--reports-dir DIR`` (the nightly CronJob): every report not given a path of its own is written
  as ``DIR/runbook-<UTC time>.{xml,md,json,html}``, and the summary starts with the checks that
  changed state since the previous JSON report in DIR (new failures, recovered).

Everything is written on the xdist controller (or the single process) from the reports it receives;
the incident and runbook steps of each check travel on its reports (``report.runbook_check``).

PYTEST_DONT_REWRITE: no asserts here; other plugins import from it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core import redact
from reporting.markdown import SUMMARY_LEAD
from runbook.markers import incident_markers, remediation_id
from runbook.state import ENV_PLACEHOLDERS
from runbook.steps import step_ids
from runbook.verdict import report_outcome

__all__ = ["CHECK_RESULTS", "CheckResult", "REPORT_PREFIX", "changes_since", "check_metadata",
           "previous_report"]

#: The results by node id, on ``config.stash`` (controller): what every report here is written from.
CHECK_RESULTS = pytest.StashKey[dict[str, "CheckResult"]]()
#: Nightly report names: ``runbook-20261201T033000.123Z.json`` (UTC; they sort by time).
REPORT_PREFIX = "runbook-"
_ATTRIBUTE = "runbook_check"  # on each TestReport; travels from xdist workers as a plain dict
_STARTED = pytest.StashKey[float]()
_PREVIOUS = pytest.StashKey[Path | None]()
_PUSH_WARNING = pytest.StashKey[str]()
PUSH_TIMEOUT_S = 5.0
_BAD = ("failed", "error")
#: The remediation plugin's own properties: their own fields in a record, not under "properties".
_PLUGIN_PROPERTIES = {"incident", "runbook_step", "remediation", "runbook_section", "remediation_steps",
                      "could_not_verify", "remediation_markdown", "interrupted"}


@dataclass
class CheckResult:
    """One check's outcome, gathered from its setup, call and teardown reports."""

    nodeid: str
    incident: str = ""
    runbook_steps: list[str] = field(default_factory=list)
    outcome: str = "passed"  # passed, failed, error, skipped, interrupted
    duration: float = 0.0
    evidence: str = ""
    remediation: str | None = None
    runbook_section: str = ""
    remediation_steps: str = ""
    cause: str = ""  # the could-not-verify cause of an ERROR
    properties: dict[str, str] = field(default_factory=dict)  # what the check recorded itself

    @property
    def check(self) -> str:
        """The node id relative to checks/, as drills and Prometheus labels name it."""
        return self.nodeid.removeprefix("checks/")

    def add(self, report: pytest.TestReport) -> None:
        meta = getattr(report, _ATTRIBUTE, None) or {}
        self.incident = self.incident or meta.get("incident", "")
        self.runbook_steps = self.runbook_steps or list(meta.get("runbook_steps", []))
        self.duration += report.duration
        props = dict(report.user_properties)
        self.properties.update({k: str(v) for k, v in props.items() if k not in _PLUGIN_PROPERTIES})
        if getattr(report, "runbook_interrupted", False):
            self.outcome, self.evidence = "interrupted", str(report.longrepr)
            return
        if report.when == "call" or not report.passed:
            outcome = report_outcome(report)
            if report.when == "teardown" and self.outcome != "passed":
                return  # a teardown error does not hide the check's own verdict
            self.outcome = outcome
            self.evidence = _evidence(report, props)
            self.cause = str(props.get("could_not_verify", ""))
        if "remediation" in props:
            self.remediation = props["remediation"]
            self.runbook_section = str(props.get("runbook_section", ""))
            self.remediation_steps = str(props.get("remediation_steps", ""))

    def record(self) -> dict:
        return {
            "nodeid": self.nodeid,
            "incident": self.incident,
            "runbook_steps": self.runbook_steps,
            "outcome": self.outcome,
            "duration_s": round(self.duration, 3),
            "evidence": self.evidence,
            "cause": self.cause,
            "remediation": self.remediation,
            "runbook_section": self.runbook_section,
            "remediation_steps": self.remediation_steps,
            "properties": self.properties,
        }


def _evidence(report: pytest.TestReport, props: dict) -> str:
    """What the check observed: its failure message (never the traceback), the could-not-verify
    cause, or the reason it was skipped."""
    if report.passed:
        return ""
    if cause := props.get("could_not_verify"):
        return f"could not verify: {cause}"
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    return text.removeprefix("AssertionError: ").strip()


# --- options and paths ---


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runbook")
    group.addoption("--runbook-json", dest="runbook_json", metavar="PATH", default=None,
                    help="write one JSON record per check (outcome, evidence, runbook step, "
                         "remediation) to PATH")
    group.addoption("--pushgateway", dest="runbook_pushgateway", metavar="URL", default=None,
                    help="push per-check and per-incident gauges to the Prometheus Pushgateway at URL "
                         "(grouping key job=runbook-checks, environment=<env>)")
    group.addoption("--reports-dir", dest="runbook_reports_dir", metavar="DIR", default=None,
                    help="write timestamped JUnit, Markdown, JSON and HTML reports into DIR and say "
                         "which checks changed state since the previous report there")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Before junitxml and pytest-html read their options: fill in the nightly report paths."""
    config.stash[_STARTED] = time.time()
    config.stash[CHECK_RESULTS] = {}
    url = config.getoption("runbook_pushgateway")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise pytest.UsageError(f"invalid --pushgateway {url!r}: expected http(s)://host:port")
        if parts.username or parts.password:
            raise pytest.UsageError("invalid --pushgateway: credentials in the URL are refused "
                                    "(they would be printed); use a proxy or network policy")
    if hasattr(config, "workerinput"):
        return
    config.pluginmanager.register(_Collector(config), "runbook-reports-collector")
    directory = config.getoption("runbook_reports_dir")
    if not directory:
        return
    directory = config.invocation_params.dir / directory
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"invalid --reports-dir {directory}: {exc.strerror}") from None
    config.stash[_PREVIOUS] = previous_report(directory)
    now = datetime.now(timezone.utc)
    stem = directory / f"{REPORT_PREFIX}{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z"
    option = config.option
    option.xmlpath = option.xmlpath or f"{stem}.xml"
    option.runbook_summary = option.runbook_summary or f"{stem}.md"
    option.runbook_json = option.runbook_json or f"{stem}.json"
    if hasattr(option, "htmlpath") and not option.htmlpath:
        option.htmlpath = f"{stem}.html"
        option.self_contained_html = True


def previous_report(directory: Path) -> Path | None:
    """The newest nightly JSON report in ``directory`` (names sort by time), if any."""
    reports = sorted(directory.glob(f"{REPORT_PREFIX}*.json"))
    return reports[-1] if reports else None


# --- on the process that runs the check ---


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(report, _ATTRIBUTE, check_metadata(item))
    return report


def check_metadata(item: pytest.Item) -> dict:
    """What every report of a check carries for the reports: its incident and runbook steps."""
    return {"incident": ",".join(incident_markers(item)), "runbook_steps": step_ids(item),
            "remediation": remediation_id(item)}


# --- on the controller ---


class _Collector:
    """Controller-side: every report, gathered per check (bound to its config, so pytester nests)."""

    def __init__(self, config: pytest.Config) -> None:
        self.results = config.stash[CHECK_RESULTS]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.results.setdefault(report.nodeid, CheckResult(report.nodeid)).add(report)


def changes_since(previous: dict, results: dict[str, CheckResult]) -> tuple[list[str], list[str]]:
    """Node ids that turned bad (failed or could not be verified) and that recovered (now pass)
    since a previous JSON report."""
    before = {c["nodeid"]: c["outcome"] for c in previous.get("checks", [])}
    new = sorted(n for n, r in results.items() if r.outcome in _BAD and before.get(n) not in _BAD)
    recovered = sorted(n for n, r in results.items() if r.outcome == "passed" and before.get(n) in _BAD)
    return new, recovered


def _change_lines(config: pytest.Config, results: dict[str, CheckResult]) -> list[str]:
    if _PREVIOUS not in config.stash:
        return []
    previous = config.stash[_PREVIOUS]
    if previous is None:
        return ["No previous report in this directory: nothing to compare with.", ""]
    try:
        data = json.loads(previous.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"The previous report `{previous.name}` could not be read ({type(exc).__name__}): "
                "nothing to compare with.", ""]
    new, recovered = changes_since(data, results)
    when = f"`{previous.name}`"
    if not new and not recovered:
        return [f"No check changed state since the previous report ({when}).", ""]
    lines = [f"**Since the previous report** ({when}): {len(new)} new failure"
             f"{'s' if len(new) != 1 else ''}, {len(recovered)} recovered.", ""]
    before = {c["nodeid"]: c["outcome"] for c in data.get("checks", [])}
    lines += [f"- New failure: `{n}` ({before.get(n, 'not run')} → {results[n].outcome})" for n in new]
    lines += [f"- Recovered: `{n}` ({before[n]} → passed)" for n in recovered]
    return lines + [""]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Before the summary, JUnit and HTML are written: the changes go at the top of the summary."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    results = config.stash.get(CHECK_RESULTS, {})
    config.stash.setdefault(SUMMARY_LEAD, []).extend(_change_lines(config, results))


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """After the session's outcome is known: the JSON report and the Pushgateway (their failures
    are said here, and never change the run's verdict)."""
    if hasattr(config, "workerinput"):
        return
    results = config.stash.get(CHECK_RESULTS, {})
    env = config.stash.get(ENV_PLACEHOLDERS, {}).get("env", "unknown")
    path = config.getoption("runbook_json")
    if path:
        target = config.invocation_params.dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(_document(config, results, env, int(exitstatus)), indent=2) + "\n"
        target.write_text(redact.scrub(text), encoding="utf-8")  # reports are scrubbed; this too
    url = config.getoption("runbook_pushgateway")
    if url:
        from reporting.pushgateway import push

        problem = push(url, env, list(results.values()), timeout=PUSH_TIMEOUT_S,
                       interrupted=any(r.outcome == "interrupted" for r in results.values()))
        if problem:
            terminalreporter.write_line(f"pushgateway: {problem}", yellow=True)


def _document(config: pytest.Config, results: dict[str, CheckResult], env: str, exitstatus: int) -> dict:
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    lead = config.stash.get(SUMMARY_LEAD, [])
    return {
        "environment": env,
        "started": datetime.fromtimestamp(config.stash[_STARTED], timezone.utc).isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "exit_status": exitstatus,
        "counts": counts,
        "summary_lead": [line for line in lead if line],
        "checks": [results[n].record() for n in sorted(results)],
    }


# --- pytest-html columns ---


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    cells[2:2] = ['<th class="sortable" data-column-type="incident">Incident</th>',
                  '<th class="sortable" data-column-type="runbook">Runbook step</th>',
                  '<th class="sortable" data-column-type="remediation">Remediation</th>']


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    meta = getattr(report, _ATTRIBUTE, None) or {}
    props = dict(report.user_properties)
    remediation = props.get("remediation", "")
    cells[2:2] = [f'<td class="col-incident">{escape(meta.get("incident", ""))}</td>',
                  f'<td class="col-runbook">{escape(" ".join(meta.get("runbook_steps", [])))}</td>',
                  f'<td class="col-remediation">{escape(remediation)}</td>']


@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report) -> None:
    report.title = "Runbook checks"


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_html(report: pytest.TestReport, data: list[str]) -> None:
    """Under a failing check's log: its runbook section and the rendered remediation steps."""
    props = dict(report.user_properties)
    if report.failed and props.get("remediation_steps"):
        data.append(escape(f"{' Suggested remediation ':-^80}\nRunbook: {props.get('runbook_section', '')} "
                           f"({props['remediation']})\n{props['remediation_steps']}\n"))
