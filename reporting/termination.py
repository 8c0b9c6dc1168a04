"""SIGTERM (the CronJob's activeDeadlineSeconds, a node drain, a cancelled CI job) stops the run
cleanly: within a few seconds, with every report still written.

The handler raises :class:`Terminated`, a :class:`KeyboardInterrupt`, in the main thread where the
check runs, so its ``finally`` blocks and fixture teardowns run (the S3 canary is deleted) and pytest
goes on to ``pytest_sessionfinish`` as after Ctrl-C. There, before JUnit, the Markdown summary and
the other reports are written, every collected check that did not finish gets an error report saying
it was interrupted, the summary starts with the interruption, and the exit code is 143 (128 + SIGTERM,
what Kubernetes shows for a terminated container) instead of pytest's 2.

A second SIGTERM while the cleanup runs is ignored; the kubelet's SIGKILL after the grace period is
the backstop. Runs in one process (the CronJob runs without ``-n``); under xdist the controller stops
and xdist stops its workers.

Once everything is written, a process ends without the interpreter's last garbage collection
(``gc.freeze()`` in an exit handler registered when the run is configured): with boto3, psycopg,
redis and the Kubernetes client loaded it spent 0.3-0.4 s after the verdict, in every process (each
xdist worker too), on objects the exit frees anyway. Reports and files are closed explicitly before
then, and every exit handler still runs (logging's flush, ``weakref.finalize`` cleanups, the
Kubernetes client's temporary files); only the collection of cyclic garbage at exit is skipped.

PYTEST_DONT_REWRITE: no asserts here; other plugins import from it.
"""

from __future__ import annotations

import atexit
import gc
import signal

import pytest

from reporting.markdown import SUMMARY_LEAD
from reporting.records import check_metadata

__all__ = ["EXIT_TERMINATED", "TERMINATED", "Terminated"]

#: The exit code of a run stopped by SIGTERM: 128 + 15, as a shell and Kubernetes report it.
EXIT_TERMINATED = 128 + signal.SIGTERM
#: True on ``config.stash`` once SIGTERM arrived.
TERMINATED = pytest.StashKey[bool]()
_FINISHED = pytest.StashKey[set[str]]()
_PREVIOUS_HANDLER = pytest.StashKey[object]()
_INTERRUPTED = ("interrupted: the run received SIGTERM before this check finished "
                "(CronJob deadline, node drain or cancelled job); not verified")


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so cleanup runs as after Ctrl-C."""


_EXIT_WITHOUT_COLLECTION: list[bool] = []


def pytest_configure(config: pytest.Config) -> None:
    if not _EXIT_WITHOUT_COLLECTION:  # once per process (pytester's in-process runs configure again)
        _EXIT_WITHOUT_COLLECTION.append(True)
        atexit.register(gc.freeze)
    config.stash[TERMINATED] = False
    config.stash[_FINISHED] = set()
    if hasattr(config, "workerinput"):
        return  # xdist workers are stopped by their controller
    config.pluginmanager.register(_Tracker(config.stash[_FINISHED]), "runbook-termination-tracker")

    def on_sigterm(signum, frame) -> None:
        if config.stash[TERMINATED]:
            return  # already stopping: let the cleanup finish
        config.stash[TERMINATED] = True
        raise Terminated("SIGTERM: stopping the run")

    try:
        config.stash[_PREVIOUS_HANDLER] = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread (pytest run from a thread): nothing to install
        pass


def pytest_unconfigure(config: pytest.Config) -> None:
    previous = config.stash.get(_PREVIOUS_HANDLER, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


class _Tracker:
    """The checks that finished (their teardown was reported), bound to one config."""

    def __init__(self, finished: set[str]) -> None:
        self.finished = finished

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            self.finished.add(report.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Before junitxml, pytest-html and the summary write: record the unfinished checks."""
    config = session.config
    if not config.stash.get(TERMINATED, False):
        return
    done = config.stash[_FINISHED]
    finished = sum(1 for item in session.items if item.nodeid in done)
    unfinished = [item for item in session.items if item.nodeid not in done]
    for item in unfinished:
        meta = check_metadata(item)
        properties = [("incident", meta["incident"]), ("runbook_step", " ".join(meta["runbook_steps"])),
                      ("interrupted", "SIGTERM")]
        for when, outcome in (("setup", "failed"), ("teardown", "passed")):
            report = pytest.TestReport(
                nodeid=item.nodeid, location=item.location, keywords={}, outcome=outcome,
                longrepr=_INTERRUPTED if outcome == "failed" else None, when=when,
                user_properties=properties if outcome == "failed" else [],
                runbook_interrupted=outcome == "failed", runbook_check=check_metadata(item))
            config.hook.pytest_runtest_logreport(report=report)
    config.stash.setdefault(SUMMARY_LEAD, []).extend([
        f"**Interrupted by SIGTERM** after {finished} of {len(session.items)} checks finished; "
        f"{len(unfinished)} recorded as interrupted (not verified). Exit code {EXIT_TERMINATED}.", ""])
    session.exitstatus = EXIT_TERMINATED
