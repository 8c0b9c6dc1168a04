"""One drill run writes every report: JUnit (valid against Jenkins' xUnit schema, read back with
junitparser), the Markdown summary, the JSON records, the HTML report (looked at in headless
Chromium) and the Pushgateway's gauges; each names the failing check, its runbook step and its
remediation."""

from __future__ import annotations

import json
import re

from junitparser import Failure, JUnitXml

from reporting.pushgateway import push
from reporting.records import CheckResult
from sandbox.drills import DRILLS
from tests.reports.tools import browse, gateway_samples, png_size, validate_junit
from tests.suite.runner import assert_no_secrets, run_suite

DRILL = DRILLS["oauth-key-mismatch"]
STEP = "incident-3/investigation-2"  # the runbook step the key-match check automates


def test_one_drill_run_names_the_failing_check_its_runbook_step_and_remediation_in_every_report(
        tmp_path, pushgateway):
    html, records = tmp_path / "report.html", tmp_path / "report.json"
    run = run_suite(tmp_path, "-m", DRILL.incident, "--drill", DRILL.name, "--runbook-json", str(records),
                    f"--html={html}", "--self-contained-html", "--pushgateway", pushgateway)
    assert run.returncode == 1, run.output
    failing = {"checks/" + n for n in DRILL.fails}
    (remediation,) = DRILL.remediations

    # JUnit: valid for Jenkins' xUnit plugin (so no testcase properties); junitparser reads each
    # failure, whose text carries the runbook section, the remediation id and its rendered steps.
    validate_junit(tmp_path / "report.xml")
    cases = {f"{c.classname.replace('.', '/')}.py::{c.name}": c
             for suite in JUnitXml.fromfile(str(tmp_path / "report.xml")) for c in suite}
    failed = {n for n, c in cases.items() if any(isinstance(r, Failure) for r in c.result)}
    assert failed == failing
    for nodeid in failing:
        text = cases[nodeid].result[0].text
        assert f"Runbook: Incident 3: OAuth Token Validation Failing, resolution 3 ({remediation})" in text
        assert "kubectl rollout restart deployment app-backend" in text
    assert "<properties>" not in (tmp_path / "report.xml").read_text().split("<testcase", 1)[1]

    # Markdown: a row per failing check with its runbook step and remediation.
    for nodeid in failing:
        row = next(line for line in run.summary.splitlines() if line.startswith(f"| `{nodeid}`"))
        assert f"| FAILED | {DRILL.incident} | " in row and f"`{remediation}`" in row
        assert re.search(r"\| incident-\d/[a-z]+-\d", row), row

    # JSON: one record per check; the failing ones with evidence and the rendered steps.
    document = json.loads(records.read_text())
    by_id = {c["nodeid"]: c for c in document["checks"]}
    assert set(by_id) == set(cases) and document["environment"] == "sandbox"
    assert {n for n, c in by_id.items() if c["outcome"] == "failed"} == failing
    for nodeid, record in by_id.items():
        assert DRILL.incident in record["incident"].split(",") and record["runbook_steps"], nodeid
        assert record["duration_s"] >= 0
        if nodeid in failing:
            assert record["remediation"] == remediation and record["evidence"], nodeid
            assert "kubectl rollout restart" in record["remediation_steps"]
        else:
            assert record["outcome"] == "passed" and record["remediation"] is None, nodeid
    assert STEP in by_id["checks/test_oauth.py::test_signing_key_is_published_in_jwks"]["runbook_steps"]

    # HTML, as a browser shows it: the failing rows carry incident, runbook step and remediation.
    dom, png = browse(html, tmp_path)
    width, height = png_size(png)
    assert width == 1600 and height > 0
    rows = {nodeid: (outcome, row) for outcome, nodeid, row in re.findall(
        r'<tbody class="results-table-row (\w+)" id="([^"]+)">(.*?)</tbody>', dom, re.S)}
    assert {n: o for n, (o, _) in rows.items()} == {n: "failed" if n in failing else "passed" for n in cases}
    for nodeid in failing:
        cells = dict(re.findall(r'<td class="col-(\w+)">(.*?)</td>', rows[nodeid][1], re.S))
        assert cells["result"] == "Failed"
        assert cells["incident"] == DRILL.incident and cells["remediation"] == remediation
        assert re.fullmatch(r"incident-3/[a-z]+-\d( incident-3/[a-z]+-\d)*", cells["runbook"]), cells
        assert "kubectl rollout restart deployment app-backend" in rows[nodeid][1]  # under its log
    assert "<th" in dom and ">Runbook step<" in dom and ">Remediation<" in dom

    # Pushgateway: the gauges a Prometheus scrapes.
    samples = [s for s in gateway_samples(pushgateway) if s.labels.get("job") == "runbook-checks"]
    passed = {s.labels["check"]: s.value for s in samples
              if s.name == "runbook_check_passed" and s.labels["incident"] == DRILL.incident}
    assert passed == {n.removeprefix("checks/"): 0.0 if n in failing else 1.0 for n in cases}
    assert all(s.labels["environment"] == "sandbox" for s in samples)
    incident = {s.labels["incident"]: s.value for s in samples if s.name == "runbook_incident_passed"}
    assert incident.pop(DRILL.incident) == 0.0
    assert set(incident.values()) == {1.0}  # other incidents some oauth checks share: all passed

    assert_no_secrets("\n".join([html.read_text(), records.read_text(), dom]))


def _result(name: str, outcome: str) -> CheckResult:
    return CheckResult(f"checks/test_oauth.py::{name}", incident="oauth", outcome=outcome, duration=0.25)


def test_a_check_keeps_its_last_success_time_on_the_pushgateway_through_a_failing_run(pushgateway):
    def last_success() -> dict[str, float]:
        return {s.labels["check"]: s.value for s in gateway_samples(pushgateway)
                if s.name == "runbook_check_last_success_timestamp_seconds"}

    assert push(pushgateway, "production", [_result("test_a", "passed"), _result("test_b", "failed")],
                timeout=5, interrupted=False) is None
    first = last_success()
    assert set(first) == {"test_oauth.py::test_a"}  # test_b never passed: no last success
    assert push(pushgateway, "production", [_result("test_a", "error"), _result("test_b", "passed")],
                timeout=5, interrupted=False) is None
    second = last_success()
    assert second["test_oauth.py::test_a"] == first["test_oauth.py::test_a"]
    assert second["test_oauth.py::test_b"] >= first["test_oauth.py::test_a"]
    failed = {s.labels["check"]: s.value for s in gateway_samples(pushgateway) if s.name == "runbook_check_failed"}
    assert failed == {"test_oauth.py::test_a": 0.0, "test_oauth.py::test_b": 0.0}  # an error is not unhealthy


def test_an_unreachable_pushgateway_is_one_sentence_and_not_a_verdict():
    problem = push("http://127.0.0.1:9", "production", [_result("test_a", "passed")], timeout=2,
                   interrupted=False)
    assert problem is not None and problem.startswith("could not read http://127.0.0.1:9/metrics")
    assert "\n" not in problem
