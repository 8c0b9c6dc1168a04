"""Each drill fails exactly the checks its incident explains, suggests its remediation, and leaks
nothing; the healthy sandbox passes every check (also under xdist)."""

from __future__ import annotations

import pytest

from sandbox.drills import DRILLS
from tests.suite.runner import assert_no_secrets


def test_every_oauth_check_passes_on_the_healthy_sandbox_under_xdist(suite):
    run = suite("-m", "oauth", "-n", "2")
    assert run.returncode == 0, run.output
    assert run.cases, "no testcase in the JUnit XML"
    assert run.names("passed") == set(c.name for c in run.cases.values())
    assert "Suggested remediation" not in run.output
    assert "All" in run.summary and "passed" in run.summary


@pytest.mark.parametrize("drill", DRILLS.values(), ids=list(DRILLS))
def test_a_drill_fails_exactly_the_checks_its_incident_explains(suite, drill):
    run = suite("-m", drill.incident, "--drill", drill.name, "-l", "--tb=long")
    assert run.returncode == 1, run.output
    assert run.names("failed") == drill.fails, run.output
    assert run.names("error") == drill.errors, run.output
    assert run.names("skipped") == set()
    assert run.remediations == drill.remediations
    for case in run.cases.values():
        if case.outcome in ("failed", "error"):
            assert drill.incident in case.properties["incident"].split(",")
            assert case.properties["runbook_section"]
            assert "Suggested remediation" in case.text
    assert "Suggested remediation" in run.output
    assert_no_secrets(run.everything())


def test_the_key_mismatch_drill_names_keys_and_suggests_the_rollout_restart(suite):
    run = suite("-m", "oauth", "--drill", "oauth-key-mismatch")
    assert run.returncode == 1
    case = run.cases["test_signing_key_is_published_in_jwks"]
    assert case.outcome == "failed"
    assert "thumbprint" in case.text and "kid=" in case.text
    assert case.properties["incident"] == "oauth"
    assert case.properties["remediation"] == "oauth.restart-pods"
    assert "kubectl rollout restart deployment app-backend -n production" in case.text
    summary_section = run.output.split("Suggested remediation", 1)[1]
    assert "kubectl rollout restart deployment app-backend -n production" in summary_section
    assert "kubectl rollout restart deployment app-backend -n production" in run.summary


def test_checks_blocked_by_one_cause_say_so_in_one_line_each(suite):
    run = suite("-m", "oauth", "--drill", "oauth-jwks-down")
    blocked = [c for c in run.cases.values() if c.outcome == "error"]
    assert blocked
    for case in blocked:
        assert "could not verify: JWKS" in case.text
        assert "Traceback" not in case.text
    assert run.output.count("answered HTTP 503") >= len(blocked)
