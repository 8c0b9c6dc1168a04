"""`python -m sandbox rehearse DRILL --auto`: a drill played to the end with the printed commands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sandbox.drills import DRILLS

from sandbox.rehearse import Rehearsal, files_left, parse_steps
from tests.suite.runner import REPO

RENDERED = """\
1. List the idle connections.
   $ psql 'host=127.0.0.1 port=5432 dbname=app user=runbook_operator' -c "SELECT 1"
2. CAUTION: If safe, terminate them.
   $ psql 'host=127.0.0.1 port=5432 dbname=app user=runbook_operator' -c "SELECT pg_terminate_backend(1)"
3. Decide with the team whether the pool should shrink.
4. Re-run the pool checks.
   $ cd /work/main && /work/main/.venv/bin/python -m pytest -m db_pool --env=sandbox
"""


def test_parse_steps_reads_each_numbered_step_its_command_and_its_caution():
    steps = parse_steps("db_pool.kill-idle", RENDERED)
    assert [(s.number, s.caution, s.command is not None, s.is_rerun) for s in steps] == [
        (1, False, True, False), (2, True, True, False), (3, False, False, False), (4, False, True, True)]
    assert steps[1].text == "If safe, terminate them."
    assert steps[1].command.endswith('"SELECT pg_terminate_backend(1)"')


def test_rehearsing_the_idle_leak_drill_resolves_it_with_the_printed_caution_step():
    result = subprocess.run([sys.executable, "-m", "sandbox", "rehearse", "db_pool-idle-leak", "--auto"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "pg_terminate_backend" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("RESOLVED (with a CAUTION step); ")
    assert "0 failed as printed" in result.stdout
    assert "files the printed commands left: none" in result.stdout
    assert "SECRET EXPOSED" not in result.stdout


def test_files_left_by_the_commands_are_listed_with_their_mode_and_a_secret_in_one_is_a_leak(tmp_path):
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "clients.txt").write_text("id=3 addr=127.0.0.1:5000\n")
    (tmp_path / "evidence" / "clients.txt").chmod(0o600)
    (tmp_path / "jwt-private.pem").write_text("-----BEGIN PRIVATE KEY-----\nsupersecretvalue42\n")
    (tmp_path / "jwt-private.pem").chmod(0o644)
    left, leaks = files_left(tmp_path, ["supersecretvalue42"])
    assert left == [("evidence/clients.txt", 0o600), ("jwt-private.pem", 0o644)]
    assert leaks == ["file jwt-private.pem"]
    rehearsal = Rehearsal("drill", left=left, leaks=[])
    assert not rehearsal.safe  # readable by others, even without a known secret in it
    assert Rehearsal("drill", left=[("evidence/clients.txt", 0o600)]).safe


def test_rehearsing_the_incomplete_secret_drill_leaves_no_key_material_behind():
    result = subprocess.run([sys.executable, "-m", "sandbox", "rehearse", "oauth-secret-incomplete", "--auto"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert "RESOLVED" in result.stdout.rstrip().splitlines()[-1], result.stdout[-3000:] + result.stderr[-2000:]
    assert "files the printed commands left: none" in result.stdout
    assert "SECRET EXPOSED" not in result.stdout
    assert "PRIVATE KEY" not in result.stdout


def test_rehearsing_an_unknown_drill_says_where_the_list_is():
    result = subprocess.run([sys.executable, "-m", "sandbox", "rehearse", "no-such-drill"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "unknown drill 'no-such-drill': `python -m sandbox drills` lists them" in result.stderr


# Every drill that says what resolves it, but the two rehearsed in full by the tests above.
@pytest.mark.parametrize("drill", sorted(name for name, d in DRILLS.items() if d.resolved_by
                                         and name not in ("db_pool-idle-leak", "oauth-secret-incomplete")))
def test_a_drill_said_to_be_resolved_by_its_printed_commands_is_resolved_by_them(drill):
    result = subprocess.run([sys.executable, "-m", "sandbox", "rehearse", drill, "--auto"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    last = result.stdout.rstrip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
    caution = DRILLS[drill].resolved_by == "caution"
    assert last.startswith("RESOLVED (with a CAUTION step)" if caution else "RESOLVED;"), result.stdout[-3000:]
    assert "SECRET EXPOSED" not in result.stdout
