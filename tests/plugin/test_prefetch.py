"""transport/prefetch.py on its own: a first contact starts when collection is done, only for what a
collected check uses (by name too, with also_for), and what no check took is discarded at the end.
Each case runs in a subprocess: the registry of starters is the module's, and must not outlive it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CONFTEST = """
import json
import os
import threading

import pytest

from core.config import ENVIRONMENT
from transport.prefetch import prefetched, prefetches

pytest_plugins = ["transport.prefetch"]
LOG = []


def pytest_configure(config):
    config.stash[ENVIRONMENT] = "the environment"


@prefetches("connection", also_for=("by_name",), discard=lambda result: LOG.append(f"discarded {result}"))
def _first_connection(env):
    LOG.append(f"started with {env}")
    return "connection 1"


@pytest.fixture(scope="session")
def connection(request):
    found = prefetched(request, "connection", lambda: "connection made in the fixture")
    LOG.append(f"took {found}")
    return found


@pytest.fixture
def by_name(request):
    return request.getfixturevalue("connection")


def pytest_unconfigure(config):
    for thread in threading.enumerate():  # a discard runs in the starter's thread once it is done
        if thread.name.startswith("prefetch"):
            thread.join(10)
    with open(os.environ["PREFETCH_LOG"], "w") as out:
        json.dump(LOG, out)
"""

CHECKS = """
import pytest


def test_uses_it(connection):
    assert connection == "connection 1"


def test_asks_for_it_by_name(by_name):
    assert by_name == "connection 1"


@pytest.mark.skip(reason="never set up")
def test_skipped_before_setup(connection):
    pass


def test_needs_nothing():
    pass
"""


@pytest.fixture
def inner(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_checks=CHECKS)
    log = pytester.path / "prefetch.json"
    monkeypatch.setenv("PREFETCH_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", str(REPO))

    def run(*args: str) -> list[str]:
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
        assert result.ret in (0, 5), result.stdout.str()
        return json.loads(log.read_text())

    return run


@pytest.mark.parametrize(("selection", "log"), [
    ("test_uses_it", ["started with the environment", "took connection 1"]),
    ("test_asks_for_it_by_name", ["started with the environment", "took connection 1"]),  # also_for
    ("test_skipped_before_setup", ["started with the environment", "discarded connection 1"]),
    ("test_needs_nothing", []),  # nothing started for a dependency no collected check uses
])
def test_a_first_contact_starts_only_for_collected_checks_and_is_taken_or_discarded(inner, selection, log):
    assert inner("-k", selection) == log


def test_collect_only_contacts_nothing(inner):
    assert inner("--collect-only") == []
