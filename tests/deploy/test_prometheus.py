"""deploy/prometheus/rules.yaml, the alerts for many clusters, as Prometheus' own promtool reads
them: valid rules, and each alert firing on the series the suite pushes (tests/deploy/rules_test.yaml)."""

import subprocess

from tests.reports.tools import require
from tests.suite.runner import REPO


def test_promtool_accepts_the_alerting_rules_and_their_unit_tests_pass():
    promtool = require("promtool")
    check = subprocess.run([promtool, "check", "rules", "deploy/prometheus/rules.yaml"], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 3 rules found" in check.stdout
    unit = subprocess.run([promtool, "test", "rules", "tests/deploy/rules_test.yaml"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert unit.returncode == 0, unit.stdout + unit.stderr
