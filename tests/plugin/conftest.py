"""A throwaway project for pytester: the remediation plugin, the nine incident markers, an environment."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runbook.incidents import INCIDENTS

REPO = Path(__file__).resolve().parents[2]

#: The environment placeholders the inner runs see (what core.config provides for production).
ENVIRONMENT = {
    "env": "production",
    "env_file": "environments/production.toml",
    "namespace": "production",
    "deployment": "app-backend",
    "kubectl_target": "",
    "secret_name": "jwt-keys",
    "jwks_url": "https://api.example.test/oauth/jwks.json",
    "redis_url_redacted": "redis://10.0.0.5:6379/0",
    "redis_cli": "redis-cli -h 10.0.0.5 -p 6379",
    "psql": "psql 'host=10.0.0.4 dbname=app user=app'",
    "health_live_url": "https://api.example.test/health/live",
}

CONFTEST = f"""
import pytest

pytest_plugins = ["runbook.plugin", "reporting.results", "reporting.junit", "reporting.terminal", "reporting.markdown"]


def pytest_configure(config):
    from runbook.state import ENV_PLACEHOLDERS

    config.stash[ENV_PLACEHOLDERS] = {ENVIRONMENT!r}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # The inner checks test the plugin, not the runbook steps: they get one unless their module
    # says STRICT_STEPS = True (the tests of the runbook marker itself).
    for item in items:
        if item.get_closest_marker("runbook") is None and not getattr(item.module, "STRICT_STEPS", False):
            item.add_marker(pytest.mark.runbook("incident-3/investigation-2"))
"""


class Suite:
    """The inner project: write checks, run pytest (in process, or in a subprocess for xdist)."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        markers = "\n".join(f"    {name}: runbook section {name}" for name in INCIDENTS)
        self._ini = (f"[pytest]\nmarkers =\n{markers}\n"
                     "addopts = -p no:cacheprovider --strict-markers\nfilterwarnings = error\n"
                     # the legacy family writes testcase <properties> (xunit2 has none): what these
                     # tests read the remediation plugin's properties from
                     "junit_family = legacy\n")
        self.ini()

    def ini(self, **options: str) -> None:
        """(Re)write the inner ini file, with extra options."""
        self.pytester.makeini(self._ini + "".join(f"{k} = {v}\n" for k, v in options.items()))

    def checks(self, source: str, name: str = "test_checks") -> None:
        self.pytester.makepyfile(**{name: textwrap.dedent(source)})

    def run(self, *args: str, xdist: bool = False) -> pytest.RunResult:
        if xdist:
            return self.pytester.runpytest_subprocess("-n", "2", *args)
        return self.pytester.runpytest(*args)

    def junit(self, *args: str, xdist: bool = False) -> tuple[pytest.RunResult, dict[str, ET.Element]]:
        """Run with --junitxml; the parsed testcases by name."""
        path = self.pytester.path / "reports" / "junit.xml"
        result = self.run(f"--junitxml={path}", *args, xdist=xdist)
        return result, {case.get("name"): case for case in ET.parse(path).iter("testcase")}

    @staticmethod
    def properties(case: ET.Element) -> dict[str, str]:
        """A JUnit testcase's <properties> as a dict."""
        return {p.get("name"): p.get("value") for p in case.iter("property")}


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Suite:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.syspathinsert(REPO)
    pytester.makeconftest(CONFTEST)
    return Suite(pytester)
