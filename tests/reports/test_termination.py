"""SIGTERM (the CronJob's deadline, a node drain) stops the run within seconds: cleanup in finally
blocks runs, and JUnit (valid against the xUnit schema), the Markdown summary and the JSON records
are written with the finished checks and the unfinished ones recorded as interrupted; exit 143."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from junitparser import Error, JUnitXml

from reporting.termination import EXIT_TERMINATED
from tests.reports.tools import validate_junit

CHECKS = """
import os
import pathlib
import time
import pytest

pytestmark = [pytest.mark.s3]
STATE = pathlib.Path(os.environ["STATE_DIR"])


@pytest.mark.runbook("incident-4/investigation-1")
@pytest.mark.remediation("s3.fix-bucket-policy")
def test_a_bucket_policy_allows_uploads():
    pass


@pytest.mark.runbook("incident-4/investigation-4")
@pytest.mark.remediation("s3.fix-role-policy")
def test_b_canary_round_trip():
    (STATE / "canary").write_text("uploaded")  # as the S3 canary check puts its object
    try:
        (STATE / "started").write_text("")
        time.sleep(60)
    finally:
        (STATE / "canary").unlink()  # ... and deletes it whatever happens


@pytest.mark.runbook("incident-4/investigation-2")
@pytest.mark.remediation("s3.fix-role-policy")
def test_c_role_policy_allows_uploads():
    pass
"""


def test_sigterm_mid_run_stops_within_seconds_and_still_writes_every_report(inner, tmp_path):
    inner.makepyfile(test_s3=CHECKS)
    state = tmp_path / "state"
    state.mkdir()
    junit, summary, records = (tmp_path / f"report.{ext}" for ext in ("xml", "md", "json"))
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", f"--junitxml={junit}", f"--runbook-summary={summary}",
         f"--runbook-json={records}"],
        cwd=inner.path, env={**os.environ, "STATE_DIR": str(state)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (state / "started").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
        time.sleep(0.05)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    stopped_in = time.monotonic() - sent

    assert process.returncode == EXIT_TERMINATED, output
    assert stopped_in < 5, f"took {stopped_in:.1f} s to stop"
    assert not (state / "canary").exists(), "the finally block did not run: the canary is left"

    validate_junit(junit)
    cases = {c.name: c for suite in JUnitXml.fromfile(str(junit)) for c in suite}
    assert set(cases) == {"test_a_bucket_policy_allows_uploads", "test_b_canary_round_trip",
                          "test_c_role_policy_allows_uploads"}
    assert cases["test_a_bucket_policy_allows_uploads"].is_passed
    for name in ("test_b_canary_round_trip", "test_c_role_policy_allows_uploads"):
        (result,) = cases[name].result
        assert isinstance(result, Error) and "interrupted: the run received SIGTERM" in result.message, name

    text = summary.read_text()
    assert text.split("\n", 3)[2].startswith(
        "**Interrupted by SIGTERM** after 1 of 3 checks finished; 2 recorded as interrupted")
    assert f"Exit code {EXIT_TERMINATED}." in text
    outcomes = {c["nodeid"]: c["outcome"] for c in json.loads(records.read_text())["checks"]}
    assert outcomes == {"test_s3.py::test_a_bucket_policy_allows_uploads": "passed",
                        "test_s3.py::test_b_canary_round_trip": "interrupted",
                        "test_s3.py::test_c_role_policy_allows_uploads": "interrupted"}
