"""Each drill fails exactly the checks its incident explains, suggests its remediation, and leaks
nothing; the healthy sandbox passes every check (also under xdist)."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.drills import DRILLS
from tests.suite.drill_evidence import EVIDENCE
from tests.suite.runner import REPO, assert_no_handled_secrets


def test_every_oauth_check_passes_on_one_sandbox_under_xdist_and_nothing_is_left_running(suite, tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    run = suite("-m", "oauth", "-n", "2", "-p", "tests.suite.envprobe", env={"ENVPROBE_DIR": str(probe)})
    assert run.returncode == 0, run.output
    assert run.cases, "no testcase in the JUnit XML"
    assert run.names("passed") == set(c.name for c in run.cases.values())
    assert "Suggested remediation" not in run.output
    assert "All 17 checks passed." in run.summary
    # One sandbox for the run: the controller and both workers checked the same environment file.
    checked = {p.name: p.read_text() for p in probe.iterdir() if p.suffix != ".modules"}
    assert set(checked) == {"controller", "gw0", "gw1"}
    # The oauth checks import what they use and nothing heavier: no AWS, PostgreSQL or generated
    # Kubernetes API modules in any pytest process (the sandbox runs in its own process).
    for worker in ("controller", "gw0", "gw1"):
        assert set((probe / f"{worker}.modules").read_text().split()) <= {"redis", "jwt"}, worker
    assert len(set(checked.values())) == 1
    # ... and it is gone: state dir removed, every port it served closed.
    env_path, env_text = next(iter(checked.values())).split("\n", 1)
    assert not Path(env_path).parent.exists()
    ports = {int(url or dsn) for url, dsn in re.findall(r"127\.0\.0\.1:(\d+)|port=(\d+)", env_text)}
    assert len(ports) >= 4, env_text  # kube API, app, redis, moto, postgres
    for port in ports:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open after the run"


def test_every_drill_is_named_for_its_incident_marker_as_the_remediations_are():
    from runbook.catalog import load_catalog

    for drill in DRILLS.values():
        assert drill.name.startswith(f"{drill.incident}-"), drill.name
    for remediation in load_catalog().values():
        assert remediation.id.startswith(f"{remediation.incident}."), remediation.id


def test_sandbox_drills_lists_every_drill_under_its_incident_with_the_checks_it_fails():
    result = subprocess.run([sys.executable, "-m", "sandbox", "drills"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    sections = dict(re.findall(r"^-m (\w+)\n(.*?)(?=^-m |^run one)", result.stdout, re.M | re.S))
    for drill in DRILLS.values():
        section = sections[drill.incident]
        assert re.search(rf"^  {re.escape(drill.name)}\s+{re.escape(drill.summary)}$", section, re.M), drill.name
        block = section.split(drill.name, 1)[1]
        for nodeid in drill.fails:
            assert f"fails  {nodeid}" in block, (drill.name, nodeid)


def test_sandbox_steps_lists_each_runbook_step_with_its_checks_and_the_steps_without_one():
    from runbook.steps import load_steps

    result = subprocess.run([sys.executable, "-m", "sandbox", "steps"], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    covered, _, uncovered = result.stdout.partition("runbook steps have a check")
    assert re.search(r"^incident-3/investigation-2 .*\n(    .*\n)*    test_oauth.py::test_jwks_endpoint_serves_json\n"
                     r"        remediation oauth.fix-jwks-endpoint; drills: .*oauth-jwks-down", covered, re.M)
    assert re.search(r"^    outage/immediate-2 ", uncovered, re.M)  # paging on-call is done by hand
    listed = set(re.findall(r"^(?:    )?([a-z0-9-]+/[a-z]+(?:-\d+)?)  ", result.stdout, re.M))
    assert listed == set(load_steps())


# Drills whose one run is asserted in full by a test of their own below (one run per drill).
SPECIFIC = ("deploy-rollout-stuck", "outage-postgres-down", "rollback-no-history")


@pytest.mark.parametrize("drill", [d for d in DRILLS.values() if d.name not in SPECIFIC],
                         ids=[name for name in DRILLS if name not in SPECIFIC])
def test_a_drill_fails_exactly_the_checks_its_incident_explains(suite, drill):
    assert_fails_exactly_its_checks(suite("-m", drill.incident, "--drill", drill.name, revealing=True), drill)


def assert_fails_exactly_its_checks(run, drill) -> None:
    assert run.returncode == 1, run.output
    assert run.names("failed") == drill.fails, run.output  # node ids: test_<incident>.py::test_…
    assert run.names("error") == drill.errors, run.output
    assert run.names("skipped") == set()
    assert run.remediations == drill.remediations
    for case in run.cases.values():
        if case.outcome in ("failed", "error"):
            assert drill.incident in case.properties["incident"].split(",")
            assert case.properties["runbook_section"]
            assert "Suggested remediation" in case.text
    assert "Suggested remediation" in run.output
    assert_remediations_are_complete_and_run_as_the_operator(run)
    assert_no_handled_secrets(run)  # terminal, JUnit, Markdown, debug log: patterns and exact values
    for evidence in EVIDENCE.get(drill.name, ()):  # what else this drill's one run must show
        evidence(run)


def assert_remediations_are_complete_and_run_as_the_operator(run) -> None:
    """With this drill's observations, every suggested step is filled in (no <name>, no {name}, no
    /path/from/above) and no command runs as the suite's own PostgreSQL role or kube context."""
    for case in run.cases.values():
        steps = case.properties.get("remediation_steps")
        if not steps:
            continue
        assert not re.search(r"<[a-z_][a-z0-9_-]*>", steps), (case.name, steps)
        assert "/path/from/above" not in steps, (case.name, steps)
        commands = "\n".join(line for line in steps.splitlines() if line.lstrip().startswith("$ "))
        assert "user=runbook_checks" not in commands, (case.name, commands)
        assert not re.search(r"--(kube-)?context[ =]runbook-checks\b", commands), (case.name, commands)


def test_the_key_mismatch_drill_names_keys_and_suggests_the_rollout_restart(suite):
    run = suite("-m", "oauth", "--drill", "oauth-key-mismatch")
    assert run.returncode == 1
    case = run.cases["test_oauth.py::test_signing_key_is_published_in_jwks"]
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


def test_a_stalled_rollout_fails_the_gate_within_the_settle_window_with_the_last_observation(suite):
    drill = DRILLS["deploy-rollout-stuck"]
    run = suite("-m", "deploy", "--drill", drill.name, revealing=True)
    assert_fails_exactly_its_checks(run, drill)
    settle = float(re.search(r"deploy.settle_seconds = ([\d.]+)", run.output).group(1))
    # The check's own time (setup, the wait, the verdict), the sandbox's start aside.
    took = next(float(t.get("time")) for t in ET.fromstring(run.xml).iter("testcase")
                if t.get("name") == "test_rollout_completes_within_the_settle_window")
    assert settle <= took < settle + 5, f"{took:.1f} s"
    case = run.cases["test_deploy.py::test_rollout_completes_within_the_settle_window"]
    assert "1 out of 3 new replicas have been updated after" in case.text
    assert "ImagePullBackOff" in case.text and "1.43.1" in case.text
    section = run.output.split("Suggested remediation", 1)[1]
    assert 'helm rollback app-backend "$REVISION" -n production' in section  # a named revision, never bare
    assert "kubectl describe pod app-backend-" in section


def test_postgres_down_names_postgres_as_the_root_cause_first(suite):
    drill = DRILLS["outage-postgres-down"]
    run = suite("-m", "outage", "--drill", drill.name, revealing=True)
    assert_fails_exactly_its_checks(run, drill)
    section = run.output.split("= Suggested remediation =", 1)[1]
    first = section.split("[2]", 1)[0]
    assert "[1] Bring PostgreSQL back" in first and "test_postgres_answers_select_1" in first
    ready = run.cases["test_outage.py::test_health_ready_answers_200_within_budget"]
    assert "explained by PostgreSQL" in ready.text
    assert "steps: as in [1] above" in section.split("[2]", 1)[1]


def test_no_history_fails_rollback_readiness_and_the_healthy_history_is_read_from_helm_secrets(suite):
    drill = DRILLS["rollback-no-history"]
    run = suite("-m", "rollback", "--drill", drill.name, revealing=True)
    assert_fails_exactly_its_checks(run, drill)
    helm = run.cases["test_rollback.py::test_helm_release_has_a_previous_revision"]
    assert "v7 deployed (chart 2.8.0)" in helm.text and "v6" not in helm.text
    assert "sandbox-helm-values-password" not in run.everything()  # the release's values are never printed
    assert "fix forward" in run.output.split("Suggested remediation", 1)[1]


def test_outage_deploy_and_rollback_pass_on_the_healthy_sandbox_reading_helm_history(suite):
    run = suite("-m", "outage or deploy or rollback", "-rA")
    assert run.returncode == 0, run.output
    assert run.names("passed") == set(run.cases) and len(run.cases) >= 14
    assert "Suggested remediation" not in run.output
