"""deploy/ci/: the gate script, run as a CI system would (against the sandbox), fails the pipeline
with the reports and the step summary written; the GitHub Actions workflow runs that script and
publishes what it wrote even when it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from sandbox.drills import DRILLS
from tests.reports.tools import validate_junit
from tests.suite.runner import REPO

GATE = REPO / "deploy" / "ci" / "gate.sh"
DRILL = DRILLS["deploy-version-mismatch"]


def _gate(tmp_path, *args: str, marker: str | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "RUNBOOK_"))}
    environ.update(RUNBOOK_REPORTS=str(tmp_path / "reports"),
                   GITHUB_STEP_SUMMARY=str(tmp_path / "step-summary.md"), PYTEST=f"{sys.executable} -m pytest -p sandbox.plugin")
    if marker is not None:
        environ["RUNBOOK_GATE_MARKER"] = marker
    return subprocess.run(["sh", str(GATE), *args], cwd=REPO, env=environ, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)


def test_the_gate_fails_the_pipeline_on_an_unhealthy_environment_and_writes_every_report(tmp_path):
    # The gate's default checks (-m deploy) after a deploy whose app serves another version.
    assert DRILL.incident == "deploy"
    gate = _gate(tmp_path, "sandbox", "--drill", DRILL.name)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert gate.stdout.rstrip().endswith(
        "runbook gate: FAILED: sandbox is unhealthy or could not be verified; see "
        f"{tmp_path / 'reports'}/gate.md")
    reports = tmp_path / "reports"
    validate_junit(reports / "gate.xml")
    records = json.loads((reports / "gate.json").read_text())
    assert {c["nodeid"] for c in records["checks"] if c["outcome"] == "failed"} == {
        f"checks/{n}" for n in DRILL.fails}
    summary = (reports / "gate.md").read_text()
    assert (tmp_path / "step-summary.md").read_text() == summary
    for remediation in DRILL.remediations:
        assert f"`{remediation}`" in summary


def test_a_gate_that_checks_nothing_does_not_pass(tmp_path):
    gate = _gate(tmp_path, "sandbox", marker="oauth and not oauth")
    assert gate.returncode == 5, gate.stdout + gate.stderr
    assert "runbook gate: FAILED: no 'oauth and not oauth' check ran against sandbox" in gate.stdout


def test_the_workflow_runs_the_gate_script_and_publishes_its_reports_whatever_the_outcome():
    workflow = yaml.safe_load((REPO / "deploy" / "ci" / "github-actions.yml").read_text())
    gate = workflow["jobs"]["runbook-gate"]
    assert gate["needs"] == "deploy"
    steps = gate["steps"]
    assert "pip install -r requirements-runtime.lock" in [s.get("run") for s in steps]
    run = next(s for s in steps if s.get("run", "").startswith("deploy/ci/gate.sh"))
    assert run["run"].split("#")[0].split() == ["deploy/ci/gate.sh", "production"]
    assert "if" not in run  # its exit code fails the job
    after = steps[steps.index(run) + 1:]
    publish = next(s for s in after if s.get("uses", "").startswith("mikepenz/action-junit-report"))
    upload = next(s for s in after if s.get("uses", "").startswith("actions/upload-artifact"))
    assert publish["if"] == upload["if"] == "always()"
    assert publish["with"]["report_paths"] == "reports/gate.xml"
    assert workflow["permissions"]["checks"] == "write"
