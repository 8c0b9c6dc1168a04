"""Fixtures for the report tests: the real programs they drive."""

import pytest

from runbook.incidents import INCIDENTS

from tests.reports.tools import start_pushgateway, stop


@pytest.fixture
def pushgateway(tmp_path):
    """The URL of a real Prometheus Pushgateway on loopback, stopped afterwards."""
    process, url = start_pushgateway(tmp_path / "pushgateway.log")
    try:
        yield url
    finally:
        stop(process)


INNER_CONFTEST = '''
import pytest

from runbook.incidents import INCIDENTS

pytest_plugins = ["runbook.plugin", "reporting.results", "reporting.junit", "reporting.terminal", "reporting.markdown", "reporting.records", "reporting.termination"]


def pytest_configure(config):
    from runbook.state import ENV_PLACEHOLDERS

    config.stash[ENV_PLACEHOLDERS] = {"env": "production", "namespace": "production",
                                      "deployment": "app-backend", "kubectl_target": ""}
'''


@pytest.fixture
def inner(pytester, monkeypatch):
    """A throwaway project with the remediation, report and termination plugins (xunit2 JUnit)."""
    from tests.plugin.conftest import REPO

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.syspathinsert(REPO)
    pytester.makeconftest(INNER_CONFTEST)
    markers = "\n".join(f"    {name}: runbook section {name}" for name in INCIDENTS)
    pytester.makeini(f"[pytest]\nmarkers =\n{markers}\naddopts = -p no:cacheprovider --strict-markers\n"
                     "filterwarnings = error\njunit_family = xunit2\n")
    return pytester
