"""Run the real suite the way its users do: a pytest subprocess in the repository, then read back
the exit code, the terminal output, the JUnit XML and the Markdown summary."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: What loads the sandbox into a run (`make check`, the tests, `python -m sandbox`): never the suite's conftest.
SANDBOX_PLUGIN = ("-p", "sandbox.plugin")


@dataclass
class Case:
    name: str  # node id relative to checks/, without parameters: "test_oauth.py::test_x"
    outcome: str  # passed, failed, error, skipped
    text: str  # failure/error message and text
    properties: dict[str, str]


@dataclass
class SuiteRun:
    returncode: int
    output: str  # stdout + stderr
    xml: str
    summary: str
    cases: dict[str, Case]
    debug: str = ""  # pytestdebug.log, in a revealing run
    handled: list[str] = field(default_factory=list)  # every secret value the run handled (revealing)

    def names(self, outcome: str) -> set[str]:
        """Node ids (relative to checks/, as drills name them) of the cases with that outcome."""
        return {c.name for c in self.cases.values() if c.outcome == outcome}

    @property
    def remediations(self) -> set[str]:
        return {c.properties["remediation"] for c in self.cases.values() if "remediation" in c.properties}

    def everything(self) -> str:
        return "\n".join([self.output, self.xml, self.summary, self.debug])


def nodeid(testcase: ET.Element) -> str:
    """``checks.test_oauth`` + ``test_x[p]`` -> ``test_oauth.py::test_x[p]`` (relative to checks/)."""
    module = testcase.get("classname", "").rpartition(".")[2]
    return f"{module}.py::{testcase.get('name')}"


def parse_junit(text: str) -> dict[str, Case]:
    """Testcases by node id relative to checks/ (parameters included)."""
    cases = {}
    for testcase in ET.fromstring(text).iter("testcase"):
        name = re.sub(r"\[.*\]$", "", nodeid(testcase))
        outcome, body = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = testcase.find(tag)
            if element is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                body = (element.get("message") or "") + "\n" + (element.text or "")
                break
        properties = {p.get("name"): p.get("value") for p in testcase.iter("property")}
        cases[nodeid(testcase)] = Case(name, outcome, body, properties)
    return cases


@contextmanager
def sandbox_running(state_dir: Path, *options: str, ready_within: float = 60) -> Iterator[tuple[subprocess.Popen, Path]]:
    """``python -m sandbox up --state-dir DIR [options]`` as the README says, until ready; then
    stopped with SIGTERM (as Ctrl-C or ``python -m sandbox down`` do). Yields the process and the
    environment file."""
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--state-dir", str(state_dir), *options],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + ready_within
        while not (state_dir / "ready").exists():
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, f"sandbox not ready in {ready_within} s"
            time.sleep(0.05)
        # As the README says to, for environment files copied elsewhere: export the Redis password.
        from sandbox.plugin import export_redis_password

        export_redis_password(state_dir)
        yield process, Path((state_dir / "ready").read_text())
    finally:
        from sandbox.stack import REDIS_PASSWORD_VAR

        os.environ.pop(REDIS_PASSWORD_VAR, None)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        process.stdout.close()


def _with_records(cases: dict[str, Case], records: Path) -> dict[str, Case]:
    """The runbook properties of each case from the --runbook-json records (the xunit2 JUnit XML
    has no testcase properties): incident, runbook_step, remediation, runbook_section,
    remediation_steps, could_not_verify, as the legacy JUnit properties were named, and what the
    check recorded itself."""
    if not records.exists():
        return cases
    for record in json.loads(records.read_text())["checks"]:
        case = cases.get(record["nodeid"].removeprefix("checks/"))
        if case is None:
            continue
        values = {"incident": record["incident"], "runbook_step": " ".join(record["runbook_steps"]),
                  "remediation": record["remediation"], "runbook_section": record["runbook_section"],
                  "remediation_steps": record["remediation_steps"], "could_not_verify": record["cause"]}
        case.properties.update({**record["properties"], **{k: v for k, v in values.items() if v}})
    return cases


def run_suite(tmp_path: Path, *args: str, timeout: float = 180, env: dict | None = None,
              revealing: bool = False, sandbox: bool = True) -> SuiteRun:
    """``revealing``: with the most revealing options (``-l --tb=long -vv -rA --debug``), and every
    secret value the run handled collected, for :func:`assert_no_handled_secrets`. ``sandbox``: with
    the sandbox's plugin (``-p sandbox.plugin``, as `make check` runs); without it, as a run against
    production."""
    junit = tmp_path / "report.xml"
    summary = tmp_path / "summary.md"
    debug = tmp_path / "pytestdebug.log"
    dump = tmp_path / "secrets"
    records = tmp_path / "records.json"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *(SANDBOX_PLUGIN if sandbox else ()),
               "-rfE", "--junitxml", str(junit), "--runbook-summary", str(summary), *args]
    if not any(a.startswith("--runbook-json") for a in args):
        command += ["--runbook-json", str(records)]
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "RUNBOOK_"))}
    if revealing:
        dump.mkdir(exist_ok=True)
        command += ["-l", "--tb=long", "-vv", "-rA", f"--debug={debug}", "-p", "tests.hostile.secretdump"]
        environ["SECRETDUMP_DIR"] = str(dump)
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                            env={**environ, **(env or {})}, stdin=subprocess.DEVNULL)
    xml = junit.read_text() if junit.exists() else ""
    return SuiteRun(
        returncode=result.returncode,
        output=result.stdout + result.stderr,
        xml=xml,
        summary=summary.read_text() if summary.exists() else "",
        cases=_with_records(parse_junit(xml), records) if xml else {},
        debug=debug.read_bytes().decode("utf-8", "replace") if debug.exists() else "",
        handled=sorted({v for f in dump.glob("*.secrets") for v in json.loads(f.read_text())}) if revealing else [],
    )


# Material that must never appear in any output: PEM blocks, base64 of a PEM header (as in a
# Secret's data), JWTs, private JWK members - beyond the exact values a test knows.
LEAK_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"LS0tLS1CRUdJTi"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"""['"](d|p|q|dp|dq|qi)['"]\s*:\s*['"][A-Za-z0-9_-]{16,}"""),  # private JWK members
]


def assert_no_handled_secrets(run: SuiteRun, known: list[str] = ()) -> None:
    """No secret in the terminal, JUnit, Markdown or debug log: not by pattern, not one of the exact
    values the run handled (collected from every process), not a known one."""
    assert run.debug, "no pytestdebug.log (was it revealing=True?)"  # a run may handle no secret itself
    assert_no_secrets(run.everything(), [*run.handled, *known])


def assert_no_secrets(text: str, known: list[str] = ()) -> None:
    for pattern in LEAK_PATTERNS:
        match = pattern.search(text)
        assert match is None, f"output leaks material matching {pattern.pattern}: {match.group(0)[:20]}…"
    for value in known:
        assert value not in text, f"output leaks a known secret ({len(value)} characters)"
