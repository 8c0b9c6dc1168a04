"""``pytest --runbook-steps --runbook=PATH``, run the way its users run it (a pytest subprocess in the
repository): every step of the seed runbook, read from its headings, with its checks, remediation and
drills; a section the checks do not know shows up uncovered; a runbook that cannot be read is one usage
error. The expected steps are parsed here, independently of runbook/source.py, from the runbook's
``###`` headings, bold part labels and numbered lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from runbook.listing import RUNBOOK_VAR
from runbook.steps import load_steps
from tests.suite.runner import REPO, SANDBOX_PLUGIN

# The seed runbook is the user's document, beside the checkout (shared/ next to it, in CI too).
SEED = REPO.parent / "shared" / "seeds" / "000_1264f52a79bda10f.txt"
STEP_LINE = re.compile(r"^(?:    )?([a-z0-9-]+)/([a-z]+(?:-\d+)?)  ", re.M)
COVERED_SUMMARY = "runbook steps have a check"

pytestmark = pytest.mark.skipif(not SEED.is_file(), reason=f"the seed runbook {SEED} is not on this machine")


def runbook_steps(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != RUNBOOK_VAR} | (env or {})
    return subprocess.run([sys.executable, "-m", "pytest", "--runbook-steps", *args], cwd=REPO, env=environ,
                          capture_output=True, text=True, timeout=60)


def listed(output: str) -> list[tuple[str, str]]:
    """(prefix, part-number) of every step the listing names, covered or not."""
    return STEP_LINE.findall(output)


def numbered_steps(text: str) -> tuple[int, Counter[str]]:
    """The number of ``###`` sections, and ``part-N`` of every numbered step: a ``# N.`` comment in a
    code block or an ``N.`` list item, under a bold ``**Part**:`` label (``step`` when none)."""
    sections, found, part, in_code = 0, Counter(), None, False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code, part = not in_code, part or "step"
        elif not in_code and line.startswith("## "):
            part = None
        elif not in_code and line.startswith("### "):
            sections, part = sections + 1, None
        elif not in_code and (label := re.match(r"\*\*(\w+)[\w ]*\*\*.*:\s*$", line)):
            part = label.group(1).lower()
        elif part and (number := re.match(r"# (\d+)\. " if in_code else r"(\d+)\. ", line)):
            found[f"{part}-{number.group(1)}"] += 1
    return sections, found


@pytest.fixture(scope="module")
def seed_listing() -> str:
    result = runbook_steps(f"--runbook={SEED}", *SANDBOX_PLUGIN)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_it_lists_every_numbered_step_of_every_section_of_the_seed_runbook(seed_listing):
    sections, expected = numbered_steps(SEED.read_text(encoding="utf-8"))
    steps = listed(seed_listing)
    assert sum(expected.values()) >= 50  # the independent parse found the runbook's numbered steps
    assert len({prefix for prefix, _ in steps}) == sections == 9
    assert expected - Counter(suffix for _, suffix in steps) == Counter()
    assert len(steps) == len(set(steps))


def test_every_step_of_the_catalogs_step_list_is_a_step_of_the_runbook(seed_listing):
    assert set(load_steps()) <= {f"{prefix}/{suffix}" for prefix, suffix in listed(seed_listing)}


def test_a_covered_step_shows_its_checks_remediation_and_drills_and_the_rest_are_listed_after(seed_listing):
    covered, _, uncovered = seed_listing.partition(COVERED_SUMMARY)
    assert re.search(r"^incident-3/investigation-2  .*\n(    .*\n)*    test_oauth.py::test_jwks_endpoint_serves_json\n"
                     r"        remediation oauth.fix-jwks-endpoint; drills: .*oauth-jwks-down", covered, re.M)
    assert re.search(r"^    outage/immediate-2  ", uncovered, re.M)  # paging on-call is done by hand
    assert re.search(rf"^\d+ of \d+ {COVERED_SUMMARY} \({re.escape(str(SEED))}\)", seed_listing, re.M)


def test_without_the_sandbox_plugin_it_says_where_the_drills_come_from():
    result = runbook_steps(f"--runbook={SEED}")
    assert result.returncode == 0, result.stderr
    assert "drills: (-p sandbox.plugin lists them)" in result.stdout
    assert "oauth-jwks-down" not in result.stdout


def test_a_new_runbook_section_shows_up_with_its_steps_uncovered(tmp_path):
    text = SEED.read_text(encoding="utf-8")
    new_section = ("### Incident 6: Certificate Expiry\n\n**Investigation**:\n```bash\n"
                   "# 1. Check certificate expiry dates\nkubectl get certificates -n production\n```\n\n")
    runbook = tmp_path / "runbook.md"
    runbook.write_text(text.replace("## Emergency Procedures", new_section + "## Emergency Procedures", 1),
                       encoding="utf-8")
    before, after = runbook_steps(f"--runbook={SEED}"), runbook_steps(f"--runbook={runbook}")
    assert after.returncode == 0, after.stderr
    _, _, uncovered = after.stdout.partition(COVERED_SUMMARY)
    assert re.search(r"^    incident-6-certificate-expiry/investigation-1  Incident 6: Certificate Expiry: "
                     r"Check certificate expiry dates \(kubectl get certificates -n production\)$", uncovered, re.M)
    assert set(listed(after.stdout)) - set(listed(before.stdout)) == {
        ("incident-6-certificate-expiry", "investigation-1")}


@pytest.mark.parametrize(("ini", "variable", "option", "origin"), [
    ("SEED", None, None, "ini runbook_file"),
    ("missing.md", "SEED", None, "$RUNBOOK_FILE"),
    ("missing.md", "missing.md", "SEED", "--runbook"),
    (None, "missing.md", None, "$RUNBOOK_FILE"),
], ids=["ini", "variable-over-ini", "option-over-both", "the-error-names-the-origin"])
def test_the_runbook_file_comes_from_the_ini_the_variable_or_the_option_the_last_winning(ini, variable, option, origin):
    def path(value):
        return str(SEED) if value == "SEED" else value

    args = [*(["-o", f"runbook_file={path(ini)}"] if ini else []), *([f"--runbook={path(option)}"] if option else [])]
    result = runbook_steps(*args, env={RUNBOOK_VAR: path(variable)} if variable else None)
    if "SEED" in (ini, variable, option):
        assert result.returncode == 0, result.stderr
        assert f"({SEED})" in result.stdout
    else:
        assert f"(from {origin}): No such file or directory" in result.stderr


@pytest.mark.parametrize(("runbook", "says"), [
    ("missing.md", r"cannot read the runbook \S*missing.md \(from --runbook\): No such file or directory"),
    (".", r"cannot read the runbook \S+ \(from --runbook\): Is a directory"),
    ("pyproject.toml", r"the runbook pyproject.toml \(from --runbook\) has no steps"),
    (None, r"no runbook to read: name its file with --runbook PATH, \$RUNBOOK_FILE or the ini key runbook_file"),
], ids=["missing", "a-directory", "no-steps", "not-named"])
def test_a_runbook_that_cannot_be_read_is_one_usage_error(runbook, says):
    result = runbook_steps(*([f"--runbook={runbook}"] if runbook else []))
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and re.fullmatch(rf"ERROR: .*{says}.*", errors[0]), result.stderr
    assert result.stdout == ""
