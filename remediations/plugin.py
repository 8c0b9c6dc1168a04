"""The pytest plugin that suggests the runbook's remediation for every failed or errored check.

- ``@pytest.mark.remediation(id)``: every check with an incident marker names exactly one catalog
  entry; a missing or unknown one stops the run at collection (exit 4).
- ``observed(**values)``: a check records values for its remediation's commands (pod names, PIDs).
- ``@pytest.mark.remediation(id, identity_provider=other_id)``: the entry to suggest instead when the
  environment's ``oauth.jwks_owner`` is ``identity-provider`` (the JWKS is a third party's to fix).
- Environment placeholders: ``config.stash[ENV_PLACEHOLDERS]``, filled here at session start from
  the loaded environment (``core.config``; data flows from the config to this plugin).
- On failure (on the process that runs the check, so under xdist too): the rendered remediation goes
  into ``item.user_properties`` (JUnit ``<properties>``) and the failure text (JUnit
  ``<failure>``/``<error>``); a :class:`~core.errors.Unverifiable` becomes one line,
  ``could not verify: <cause>``.
- On the controller: a "Suggested remediation" terminal section grouped by root cause, most urgent
  first, and ``--runbook-summary PATH`` (ini ``runbook_summary``; command line wins) in Markdown.

PYTEST_DONT_REWRITE: no asserts here, and conftests may import ENV_PLACEHOLDERS before it loads.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import core.config
from core import redact
from core.errors import Unverifiable
from core.secret import Secret
from remediations import runbook
from remediations.catalog import INCIDENTS, Catalog, CatalogError, Remediation, load_catalog

__all__ = [
    "CATALOG",
    "ENV_PLACEHOLDERS",
    "OBSERVATIONS",
    "SUMMARY_LEAD",
    "incident_markers",
    "observed",
    "remediation_id",
    "report_outcome",
    "used_ids",
]

#: Values for the remediation commands from the environment config (never secrets).
ENV_PLACEHOLDERS = pytest.StashKey[dict[str, str]]()
#: The loaded catalog, on ``config.stash``.
CATALOG = pytest.StashKey[Catalog]()
#: Lines other plugins put at the top of the Markdown summary (run interrupted, changes since the
#: previous nightly report), on ``config.stash``; set before this plugin's trylast sessionfinish.
SUMMARY_LEAD = pytest.StashKey[list[str]]()
#: A check's recorded observations, on ``item.stash``.
OBSERVATIONS = pytest.StashKey[dict[str, object]]()
_RESULTS = pytest.StashKey["_Results"]()

_MARKER = "remediation"
_WHILE = "_runbook_checks_while"  # set on an exception: what the suite was doing when it rose
_CAUSE = "could_not_verify"
_MARKDOWN = "remediation_markdown"  # on the report only: the controller writes the summary from it
_PROBLEMS = "remediation_marker_problems"  # xdist workeroutput key
_OWNER_KEYWORD = "identity_provider"  # the marker's keyword: the entry for a provider-owned JWKS


def remediation_id(item: pytest.Item, *, jwks_owner: str | None = None) -> str | None:
    """The id the item's ``remediation`` marker names, if it has exactly one well-formed marker;
    with ``jwks_owner="identity-provider"``, its ``identity_provider`` alternative when it has one."""
    ids = _marker_ids(item)
    if ids is None:
        return None
    if jwks_owner == "identity-provider" and len(ids) > 1:
        return ids[1]
    return ids[0]


def _marker_ids(item: pytest.Item) -> tuple[str, ...] | None:
    """The ids of a well-formed marker: the main one, then the identity-provider one if named."""
    markers = list(item.iter_markers(_MARKER))
    if len(markers) != 1 or len(markers[0].args) != 1 or set(markers[0].kwargs) - {_OWNER_KEYWORD}:
        return None
    ids = (markers[0].args[0], *markers[0].kwargs.values())
    return ids if all(isinstance(rid, str) for rid in ids) else None


def incident_markers(item: pytest.Item) -> list[str]:
    """The item's incident markers, closest first, without repeats."""
    names: list[str] = []
    for marker in item.iter_markers():
        if marker.name in INCIDENTS and marker.name not in names:
            names.append(marker.name)
    return names


def used_ids(items: Iterable[pytest.Item]) -> dict[str, list[str]]:
    """Catalog ids named by the items' markers, each with the node ids of the checks naming it."""
    used: dict[str, list[str]] = {}
    for item in items:
        for rid in _marker_ids(item) or ():
            used.setdefault(rid, []).append(item.nodeid)
    return used


# --- configuration and collection ---


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runbook", "runbook checks")
    group.addoption(
        "--runbook-summary", dest="runbook_summary", metavar="PATH", default=None,
        help="write a Markdown summary of failed checks and their remediations to PATH "
             "(precedence: ini runbook_summary < --runbook-summary)",
    )
    parser.addini("runbook_summary", "Markdown summary path, relative to the ini file "
                  "(see --runbook-summary)", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(id): name the runbook remediation (remediations/*.toml) that a failure of this "
        "check calls for",
    )
    config.addinivalue_line(
        "markers",
        f"{runbook.MARKER}(*step_ids): the runbook step(s) this check automates "
        "(ids in remediations/runbook.toml, e.g. \"incident-3/investigation-2\")",
    )
    try:
        config.stash[CATALOG] = load_catalog()
        runbook.load_steps()
    except (CatalogError, runbook.StepsError) as exc:
        raise pytest.UsageError(f"remediation catalog: {exc}") from None
    config.stash[_RESULTS] = _Results()
    config.pluginmanager.register(_Reporter(config), "remediations-reporter")
    _scrub_logs_and_debug(config)


def _scrub_logs_and_debug(config: pytest.Config) -> None:
    """Log records are formatted and scrubbed when they are made (live logging, log files and the
    captured log alike); the ``--debug`` log is scrubbed as it is written."""
    factory = logging.getLogRecordFactory()

    def scrubbed_record(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            record.msg, record.args = redact.scrub(record.getMessage()), None
        except Exception:  # a record whose arguments do not format: leave it to logging
            return record
        if record.exc_info and not record.exc_text:
            record.exc_text = redact.scrub(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(scrubbed_record)
    config.add_cleanup(lambda: logging.setLogRecordFactory(factory))
    root = config.trace.root
    writer = getattr(root, "_writer", None)  # pluggy's TagTracer: set by --debug, no public getter
    if writer is not None:
        root.setwriter(lambda text: writer(redact.scrub(text)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every incident check names exactly one known remediation and known runbook steps, or the
    run stops (exit 4)."""
    catalog = config.stash[CATALOG]
    steps = runbook.load_steps()
    problems = []
    for item in items:
        markers = list(item.iter_markers(_MARKER))
        incidents = incident_markers(item)
        if incidents or item.get_closest_marker(runbook.MARKER):
            problems += runbook.marker_problems(item, steps)
        if not markers:
            if incidents:
                ids = ", ".join(catalog.for_incident(incidents[0]))
                problems.append(f"{item.nodeid}: check marked {', '.join(incidents)} has no "
                                f"@pytest.mark.remediation(id); {incidents[0]} remediations: {ids}")
            continue
        if len(markers) > 1:
            names = ", ".join(repr(m.args[0]) if m.args else "()" for m in markers)
            problems.append(f"{item.nodeid}: {len(markers)} remediation markers ({names}); "
                            "name exactly one")
            continue
        ids = _marker_ids(item)
        if ids is None:
            problems.append(f"{item.nodeid}: remediation marker takes one id string and optionally "
                            f"{_OWNER_KEYWORD}=<id>, e.g. @pytest.mark.remediation(\"oauth.restart-pods\")")
        for rid in (r for r in ids or () if r not in catalog):
            close = catalog.suggest(rid)
            hint = f"did you mean {close!r}?" if close else "see remediations/*.toml"
            problems.append(f"{item.nodeid}: unknown remediation {rid!r} ({hint})")
    if not problems:
        return
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is None:
        raise pytest.UsageError(*problems)
    # An xdist worker cannot stop the run cleanly: run nothing, and let the controller raise.
    workeroutput[_PROBLEMS] = problems
    items.clear()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """On the xdist controller: a worker found invalid remediation markers; stop with exit 4."""
    problems = getattr(node, "workeroutput", {}).get(_PROBLEMS)
    if problems:
        raise pytest.UsageError(*problems)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """The environment's placeholders, once core.config has loaded it (a test may preset them)."""
    config = session.config
    environment = config.stash.get(core.config.ENVIRONMENT, None)
    if environment is not None and ENV_PLACEHOLDERS not in config.stash:
        config.stash[ENV_PLACEHOLDERS] = environment.placeholders()


def _jwks_owner(config: pytest.Config) -> str | None:
    environment = config.stash.get(core.config.ENVIRONMENT, None)
    return environment.oauth.jwks_owner if environment is not None and environment.oauth else None


# --- observations ---


@pytest.fixture
def observed(request: pytest.FixtureRequest):
    """Record values for the remediation's commands: ``observed(pod_name="app-backend-7d9f")``.

    Names must be observations the check's remediation declares; secrets are refused.
    """
    item = request.node
    store = item.stash.setdefault(OBSERVATIONS, {})
    catalog = request.config.stash[CATALOG]
    remediation = catalog.get(remediation_id(item, jwks_owner=_jwks_owner(request.config)) or "")

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


# --- on the process that runs the check ---


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    if call.when in ("setup", "call") and call.excinfo is not None and isinstance(call.excinfo.value, Unverifiable):
        # Its report is one sentence (_attach): spare pytest the traceback it would format and the
        # plugin throw away (pytest parses each entry's source file; with every dependency down,
        # 60 such reports took about 3 s).
        call.excinfo.traceback = call.excinfo.traceback[:0]
    report = yield
    if report.failed and report.when in ("setup", "call"):
        _attach(item, call, report)
    _scrub_report(report)
    redact.scrub_object(item.user_properties)
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    _scrub_report(report)
    return report


def _scrub_report(report) -> None:
    """The one hook every report passes through on the process that made it: remove every
    registered secret from its longrepr, sections (captured output and logs) and user_properties,
    before xdist, JUnit, the terminal or the Markdown summary see it."""
    report.longrepr = redact.scrub_object(report.longrepr)
    report.sections = redact.scrub_object(list(report.sections))
    report.user_properties = redact.scrub_object(list(getattr(report, "user_properties", [])))


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
    """Remember which fixture an unexpected exception came from (the innermost one)."""
    try:
        return (yield)
    except BaseException as exc:
        if not hasattr(exc, _WHILE):
            try:
                setattr(exc, _WHILE, f"setting up fixture {fixturedef.argname}")
            except (AttributeError, TypeError):  # an exception type without a __dict__
                pass
        raise


def pytest_report_teststatus(report, config):
    """A check that could not be verified is ERROR, also when its own body raised the cause."""
    if report.when == "call" and report.failed and any(k == _CAUSE for k, _ in report.user_properties):
        return "error", "E", ("ERROR", {"red": True})
    return None


def _unexpected(exc: BaseException, when: str) -> str:
    """``unexpected RecursionError while setting up fixture jwks``: a crash, not a verdict."""
    what = getattr(exc, _WHILE, None) or {"setup": "setting up the check", "call": "running the check",
                                          "teardown": "tearing down"}.get(when, when)
    message = str(exc)
    if isinstance(exc, pytest.fail.Exception) and message.startswith("Timeout"):
        limit = re.sub(r"[^0-9.]", "", message.split(")")[0])
        return f"unexpected timeout (pytest-timeout's limit of {limit} s, ini key timeout) while {what}"
    return f"unexpected {type(exc).__name__} while {what}"


def _attach(item: pytest.Item, call: pytest.CallInfo, report: pytest.TestReport) -> None:
    config = item.config
    catalog = config.stash[CATALOG]
    rid = remediation_id(item, jwks_owner=_jwks_owner(config))
    cause = None
    exc = call.excinfo.value if call.excinfo is not None else None
    if exc is not None and not isinstance(exc, (AssertionError, Unverifiable)):
        # A crash (RecursionError, MemoryError, pytest-timeout, a bug) is no evidence of an
        # incident: could not verify, and no runbook step, whatever the check's own remediation.
        cause = _unexpected(exc, report.when)
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
        properties.append((_CAUSE, cause))
    incident = ",".join(incident_markers(item)) or (remediation.incident if remediation else "")
    if incident:
        properties.append(("incident", incident))
    if step_ids := runbook.step_ids(item):
        properties.append(("runbook_step", " ".join(step_ids)))
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
        report.user_properties.append((_MARKDOWN, remediation.render_markdown(values)))


def _section(remediation: Remediation, steps: str) -> tuple[str, str]:
    return (f"Suggested remediation: {remediation.title}",
            f"Runbook: {remediation.section} ({remediation.id})\n{steps}")


_NO_REMEDIATION = ("no runbook remediation applies: the suite itself could not reach or read this "
                   "(credentials, RBAC, network); fix that and re-run")
_UNEXPECTED_NOTE = ("no runbook remediation applies: an unexpected error is a bug of the suite or a peer "
                    "answering nonsense, not evidence of an incident; re-run with -l --tb=long and report it")


def _note(cause: str) -> str:
    return _UNEXPECTED_NOTE if cause.startswith("unexpected ") else _NO_REMEDIATION


def _rule(title: str) -> str:
    return f"{'-' * 10} {title} {'-' * 10}"


# --- on the controller: results, terminal section, Markdown summary ---


@dataclass
class _Finding:
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
class _Group:
    key: tuple[str, str]
    findings: list[_Finding] = field(default_factory=list)


@dataclass
class _Results:
    outcomes: dict[str, str] = field(default_factory=dict)
    findings: list[_Finding] = field(default_factory=list)

    def add(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.outcomes[report.nodeid] = report_outcome(report)
        elif report.when == "teardown" and report.failed:
            if self.outcomes.get(report.nodeid, "passed") == "passed":
                self.outcomes[report.nodeid] = "error"
        if not (report.failed and report.when in ("setup", "call")):
            return
        props = dict(report.user_properties)
        cause = props.get(_CAUSE)
        self.findings.append(_Finding(
            nodeid=report.nodeid,
            outcome="FAILED" if report_outcome(report) == "failed" else "ERROR",
            message=f"could not verify: {cause}" if cause else _one_line(report),
            incident=str(props.get("incident", "")),
            runbook_step=str(props.get("runbook_step", "")),
            remediation=props.get("remediation"),
            cause=cause,
            steps=str(props.get("remediation_steps", "")),
            markdown=str(props.get(_MARKDOWN, "")),
        ))

    def sorted_findings(self) -> list[_Finding]:
        """By node id: stable whatever order xdist workers report in."""
        return sorted(self.findings, key=lambda f: f.nodeid)

    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for outcome in self.outcomes.values():
            counts[outcome] += 1
        return counts

    def groups(self, catalog: Catalog) -> list[_Group]:
        groups: dict[tuple[str, str], _Group] = {}
        for finding in self.sorted_findings():
            key = ("cause", finding.cause) if finding.cause else ("id", finding.remediation or "")
            groups.setdefault(key, _Group(key)).findings.append(finding)

        order = {rid: index for index, rid in enumerate(catalog)}

        def urgency(group: _Group) -> tuple[int, int, int]:
            """Priority, then incident order, then the runbook's order of the entries; at equal
            rank, what is broken comes before what it blocks from being verified."""
            blocked = group.key[0] == "cause"
            ranks = [(catalog[f.remediation].priority,
                      INCIDENTS.index(catalog[f.remediation].incident), order[f.remediation], blocked)
                     for f in group.findings if f.remediation in catalog]
            return min(ranks, default=(10**6, len(INCIDENTS), len(order), blocked))

        return sorted(groups.values(), key=urgency)


def report_outcome(report: pytest.TestReport) -> str:
    """passed, skipped, failed (in the check itself) or error (in its setup or teardown)."""
    if report.passed:
        return "passed"
    if report.skipped:
        return "skipped"
    could_not_verify = any(key == _CAUSE for key, _ in report.user_properties)
    return "failed" if report.when == "call" and not could_not_verify else "error"


def _one_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    line = text.strip().splitlines()[0] if text.strip() else report.outcome
    return re.sub(r"^AssertionError: ", "", line)


def _remediations(group: _Group, catalog: Catalog) -> list[tuple[Remediation, list[str], list[str]]]:
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


class _Reporter:
    """Controller-side hooks bound to their config (reports carry everything, so xdist works)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport):
        """Collect results; give JUnit the suggested remediation in the failure text.

        While the other plugins (junitxml) see the report, its text carries the rendered steps;
        afterwards it is put back, so the terminal's failure sections stay short and the steps are
        printed once, grouped, in the "Suggested remediation" section.
        """
        self.config.stash[_RESULTS].add(report)
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
        title, text = _section(remediation, props["remediation_steps"])
        sections = getattr(original, "sections", None)
        if isinstance(sections, list):
            sections.append((title, text, "-"))
        else:
            report.longrepr = f"{original}\n\n{_rule(title)}\n{text}"
        try:
            return (yield)
        finally:
            if isinstance(sections, list):
                sections.remove((title, text, "-"))
            report.longrepr = original

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int) -> None:
        config = self.config
        results = config.stash.get(_RESULTS, None)
        if results is None or not results.findings:
            return
        catalog = config.stash[CATALOG]
        tr = terminalreporter
        tr.write_sep("=", "Suggested remediation")
        shown: dict[str, int] = {}  # rendered steps -> the group that printed them
        for number, group in enumerate(results.groups(catalog), 1):
            tr.line("")
            remediations = _remediations(group, catalog)
            if group.key[0] == "cause":
                tr.line(f"[{number}] could not verify: {group.key[1]}", bold=True)
                tr.line("    blocked checks:")
                for finding in group.findings:
                    tr.line(f"      {finding.outcome} {finding.nodeid}")
                if not remediations:
                    tr.line(f"    {_note(group.key[1])}")
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

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = self.config
        if hasattr(config, "workerinput"):
            return
        path = _summary_path(config)
        results = config.stash.get(_RESULTS, None)
        if path is None or results is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact.scrub(_markdown(results, config, int(exitstatus))), encoding="utf-8")


def _summary_path(config: pytest.Config) -> Path | None:
    cli = config.getoption("runbook_summary", None)
    if cli:
        return config.invocation_params.dir / cli
    ini = config.getini("runbook_summary")
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return base / ini
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def _markdown(results: _Results, config: pytest.Config, exitstatus: int) -> str:
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
        lines.append(f"| `{_cell(f.nodeid)}` | {f.outcome} | {_cell(f.incident)} | "
                     f"{_cell(f.runbook_step)} | {rid} | "
                     f"{_cell(f.message)} |")
    shown: dict[str, int] = {}  # rendered steps -> the section that holds them
    for number, group in enumerate(results.groups(catalog), 1):
        remediations = _remediations(group, catalog)
        lines.append("")
        if group.key[0] == "cause":
            lines += [f"## {number}. Could not verify: {group.key[1]}", "",
                      "Blocked checks: " + ", ".join(f"`{f.nodeid}`" for f in group.findings)]
            if not remediations:
                note = _note(group.key[1])
                lines += ["", note[0].upper() + note[1:]]
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
