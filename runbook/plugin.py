"""The runbook plugin: its pytest hooks, each handing the work to a module of this package.

- ``@pytest.mark.remediation(id)`` and ``@pytest.mark.runbook(step)``: every incident check names
  exactly one catalog entry and its runbook steps; a missing or unknown one stops the run at
  collection (exit 4) (:mod:`runbook.markers`, :mod:`runbook.steps`). The incident markers are
  registered from :mod:`runbook.incidents`.
- ``observed(**values)``: a check records values for its remediation's commands (:mod:`runbook.observed`).
- Environment placeholders, filled at session start from the loaded environment (:mod:`runbook.placeholders`).
- On failure (on the process that runs the check, so under xdist too): the verdict and the rendered
  remediation on the item and its report (:mod:`runbook.verdict`); every report scrubbed of
  registered secrets (:mod:`runbook.scrub`).
- ``--runbook-steps`` (with ``--runbook=PATH``): the steps of the runbook file, read from its headings,
  each with its checks, remediation and drills, and the steps no check covers; printed instead of a
  run. Drills come from plugins implementing ``pytest_runbook_drills`` (:mod:`runbook.listing`).

What is printed and written from it (terminal, JUnit, Markdown, JSON, HTML) is in reporting/.

PYTEST_DONT_REWRITE: no asserts here.
"""

from __future__ import annotations

import pytest

from core import redact
from core.config import ENVIRONMENT
from core.errors import Unverifiable
from runbook import steps
from runbook.catalog import CatalogError, load_catalog
from runbook.incidents import register_markers
from runbook.listing import RUNBOOK_VAR, ListingHooks, runbook_steps
from runbook.markers import MARKER, collection_problems
from runbook.observed import observed
from runbook.placeholders import placeholders
from runbook.scrub import scrub_logs_and_debug, scrub_report
from runbook.state import CATALOG, CAUSE, ENV_PLACEHOLDERS
from runbook.verdict import attach, mark_while

__all__ = ["observed"]

_PROBLEMS = "remediation_marker_problems"  # xdist workeroutput key


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(ListingHooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("runbook", "runbook checks")
    group.addoption(
        "--runbook-steps", action="store_true", default=False,
        help="list each step of the runbook (--runbook) with the checks that automate it, their remediation "
             "and drills, and the steps no check covers; run nothing",
    )
    group.addoption(
        "--runbook", dest="runbook_file", metavar="PATH", default=None,
        help=f"the runbook file --runbook-steps reads (precedence: ini runbook_file < ${RUNBOOK_VAR} < --runbook)",
    )
    parser.addini("runbook_file", "the runbook file --runbook-steps reads (see --runbook)", default=None)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--runbook-steps``: print the listing and stop, as ``--markers`` does: no session, no
    environment, no sandbox started."""
    if not config.getoption("runbook_steps"):
        return None
    print(runbook_steps(config))
    return 0


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)
    config.addinivalue_line(
        "markers",
        f"{MARKER}(id): name the runbook remediation (remediations/*.toml) that a failure of this "
        "check calls for",
    )
    config.addinivalue_line(
        "markers",
        f"{steps.MARKER}(*step_ids): the runbook step(s) this check automates "
        "(ids in remediations/runbook.toml, e.g. \"incident-3/investigation-2\")",
    )
    try:
        config.stash[CATALOG] = load_catalog()
        steps.load_steps()
    except (CatalogError, steps.StepsError) as exc:
        raise pytest.UsageError(f"remediation catalog: {exc}") from None
    scrub_logs_and_debug(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every incident check names exactly one known remediation and known runbook steps, or the
    run stops (exit 4)."""
    problems = collection_problems(items, config.stash[CATALOG], steps.load_steps())
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
    """The environment's placeholders, once it is loaded (a test may preset them)."""
    config = session.config
    environment = config.stash.get(ENVIRONMENT, None)
    if environment is not None and ENV_PLACEHOLDERS not in config.stash:
        config.stash[ENV_PLACEHOLDERS] = placeholders(environment)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    if call.when in ("setup", "call") and call.excinfo is not None and isinstance(call.excinfo.value, Unverifiable):
        # Its report is one sentence (_attach): spare pytest the traceback it would format and the
        # plugin throw away (pytest parses each entry's source file; with every dependency down,
        # 60 such reports took about 3 s).
        call.excinfo.traceback = call.excinfo.traceback[:0]
    report = yield
    if report.failed and report.when in ("setup", "call"):
        attach(item, call, report)
    scrub_report(report)
    redact.scrub_object(item.user_properties)
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    scrub_report(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
    """Remember which fixture an unexpected exception came from (the innermost one)."""
    try:
        return (yield)
    except BaseException as exc:
        mark_while(exc, f"setting up fixture {fixturedef.argname}")
        raise


def pytest_report_teststatus(report, config):
    """A check that could not be verified is ERROR, also when its own body raised the cause."""
    if report.when == "call" and report.failed and any(k == CAUSE for k, _ in report.user_properties):
        return "error", "E", ("ERROR", {"red": True})
    return None
