"""A Redis that requires a password: the right one from ${VAR} passes, a wrong or missing one is the
suite's own access problem (could not verify), never "Redis is down"."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from sandbox.ports import free_port
from sandbox.process import terminate
from tests.suite.runner import run_suite

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="module")
def protected_redis(tmp_path_factory):
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis-auth")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", PASSWORD,
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not _listening(port):
        assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start"
        time.sleep(0.01)
    yield port
    terminate(process, timeout=5)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def environment(tmp_path, port: int, password_line: str) -> str:
    path = tmp_path / "redis-only.toml"
    path.write_text(f'[redis]\nurl = "redis://127.0.0.1:{port}/0"\n{password_line}')
    return f"--env={path}"


def test_the_password_from_the_referenced_variable_opens_the_store(tmp_path, protected_redis):
    run = run_suite(tmp_path, "-m", "oauth", environment(tmp_path, protected_redis, 'password = "${RC_PW}"\n'),
                    env={"RC_PW": PASSWORD})
    assert run.returncode == 0, run.output
    assert run.names("passed") == {"test_oauth.py::test_revocation_store_answers_ping", "test_oauth.py::test_revocation_list_is_within_limit",
                                       "test_oauth.py::test_revocation_entries_expire"}
    # Everything that needs what this file does not configure is skipped, and says why.
    assert all("has no [" in c.text for c in run.cases.values() if c.outcome == "skipped")
    assert PASSWORD not in run.everything()


@pytest.mark.parametrize("password_line", ['password = "${RC_PW}"\n', ""], ids=["wrong", "missing"])
def test_a_rejected_password_is_could_not_verify_and_suggests_no_runbook_step(tmp_path, protected_redis, password_line):
    run = run_suite(tmp_path, "-m", "oauth", environment(tmp_path, protected_redis, password_line),
                    env={"RC_PW": "not-the-password"})
    assert run.returncode == 1, run.output
    assert run.names("error") == {"test_oauth.py::test_revocation_store_answers_ping", "test_oauth.py::test_revocation_list_is_within_limit",
                                       "test_oauth.py::test_revocation_entries_expire"}
    assert run.names("failed") == set()
    assert "rejected the suite's credentials" in run.output
    assert "no runbook remediation applies" in run.output
    assert "not-the-password" not in run.everything() and PASSWORD not in run.everything()
