"""Nightly runs (``--reports-dir``) write timestamped reports and say at the top of the summary
which checks changed state since the previous report there."""

from __future__ import annotations

import json

from tests.reports.tools import validate_junit

CHECKS = """
import os
import pytest

pytestmark = [pytest.mark.memory]


@pytest.mark.runbook("incident-5/investigation-1")
@pytest.mark.remediation("memory.raise-limits")
def test_no_container_was_oom_killed():
    assert os.environ.get("OOM") != "1", "pod app-backend-1 container app was OOMKilled 2 times in 1h"


@pytest.mark.runbook("incident-5/investigation-2")
@pytest.mark.remediation("memory.find-leaks")
def test_memory_within_limits():
    assert os.environ.get("LEAK") != "1", "pod app-backend-2 uses 97% of its memory limit"
"""


def test_nightly_reports_are_timestamped_and_the_summary_leads_with_what_changed(inner, monkeypatch):
    inner.makepyfile(test_memory=CHECKS)
    reports = inner.path / "reports"

    def night(**failing: str):
        for name in ("OOM", "LEAK"):
            monkeypatch.setenv(name, failing.get(name, "0"))
        before = set(reports.glob("*.md")) if reports.exists() else set()
        inner.runpytest("--reports-dir", "reports")
        (summary,) = set(reports.glob("*.md")) - before
        return summary.read_text()

    first = night()
    assert "No previous report in this directory: nothing to compare with." in first
    second = night(OOM="1")
    lead = second.split("|", 1)[0]  # the lines above the findings table
    assert "**Since the previous report** (`runbook-" in lead and "1 new failure, 0 recovered." in lead
    assert "- New failure: `test_memory.py::test_no_container_was_oom_killed` (passed → failed)" in lead
    third = night(LEAK="1")
    lead = third.split("|", 1)[0]
    assert "1 new failure, 1 recovered." in lead
    assert "- New failure: `test_memory.py::test_memory_within_limits` (passed → failed)" in lead
    assert "- Recovered: `test_memory.py::test_no_container_was_oom_killed` (failed → passed)" in lead
    fourth = night(LEAK="1")
    assert "No check changed state since the previous report (`runbook-" in fourth

    stems = sorted(p.name.rsplit(".", 1)[0] for p in reports.glob("*.json"))
    assert len(stems) == len(set(stems)) == 4
    assert all(stem.startswith("runbook-2") and stem.endswith("Z") for stem in stems)
    for stem in stems:  # each night: JUnit, Markdown, JSON and HTML under one name
        assert {p.suffix for p in reports.glob(f"{stem}.*")} == {".xml", ".md", ".json", ".html"}
        validate_junit(reports / f"{stem}.xml")
    last = json.loads((reports / f"{stems[-1]}.json").read_text())
    assert {c["nodeid"]: c["outcome"] for c in last["checks"]} == {
        "test_memory.py::test_no_container_was_oom_killed": "passed",
        "test_memory.py::test_memory_within_limits": "failed"}
