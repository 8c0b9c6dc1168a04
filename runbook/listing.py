"""``pytest --runbook-steps``: every step of the runbook the user names (``--runbook PATH``,
``$RUNBOOK_FILE``, ini ``runbook_file``), each with the checks that automate it, their remediation
and the drills that rehearse them; then the steps no check covers.

The steps are read from the runbook's own headings (:mod:`runbook.source`), so a new section shows up,
uncovered; the checks are read from checks/ without importing them (:mod:`runbook.inventory`); the
drills come from whichever plugin implements ``pytest_runbook_drills`` (the sandbox's, loaded with
``-p sandbox.plugin``): this package never imports the sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pytest

from runbook.inventory import Check, scan_checks
from runbook.source import read_runbook
from runbook.steps import RunbookStep

__all__ = ["RUNBOOK_VAR", "ListingHooks", "runbook_path", "runbook_steps", "steps_listing"]

RUNBOOK_VAR = "RUNBOOK_FILE"


class ListingHooks:
    """Hook specifications other plugins implement (the sandbox names its drills)."""

    @pytest.hookspec
    def pytest_runbook_drills(self, config: pytest.Config, check: str) -> Iterable[str] | None:
        """Return the names of the drills that rehearse a check, named by its node id relative to
        checks/ (``test_oauth.py::test_signing_key_is_published_in_jwks``)."""


def steps_listing(steps: Iterable[RunbookStep], source: str, checks: Mapping[str, Check] | None = None,
                  drills: Callable[[str], Iterable[str]] | None = None) -> str:
    """Each step -> the checks naming its id -> their remediation -> their drills, then the steps no
    check covers. ``drills`` gives a check's drills by node id; None: no plugin knows the drills."""
    checks = scan_checks() if checks is None else checks
    lines, uncovered, total = [], [], 0
    for step in steps:
        total += 1
        covering = [check for check in checks.values() if step.id in check.steps]
        if not covering:
            uncovered.append(step)
            continue
        lines.append(_heading(step))
        for check in covering:
            named = ("(-p sandbox.plugin lists them)" if drills is None
                     else ", ".join(sorted(drills(check.nodeid))) or "none")
            lines.append(f"    {check.nodeid}")
            lines.append(f"        remediation {check.remediation}; drills: {named}")
    lines += ["", f"{total - len(uncovered)} of {total} runbook steps have a check ({source}); "
                  f"{len(uncovered)} have none (done by hand or by a remediation):"]
    lines += [f"    {_heading(step)}" for step in uncovered]
    return "\n".join(lines)


def runbook_path(config: pytest.Config) -> tuple[Path, str]:
    """The runbook file and where it was named; precedence: ini ``runbook_file`` (relative to the ini
    file) < $RUNBOOK_FILE < ``--runbook`` (both relative to the working directory)."""
    if value := config.getoption("runbook_file"):
        return Path(value).expanduser(), "--runbook"
    if value := os.environ.get(RUNBOOK_VAR):
        return Path(value).expanduser(), f"${RUNBOOK_VAR}"
    if value := config.getini("runbook_file"):
        base = config.inipath.parent if config.inipath else config.rootpath
        return base / Path(value).expanduser(), "ini runbook_file"
    raise pytest.UsageError(
        f"--runbook-steps: no runbook to read: name its file with --runbook PATH, ${RUNBOOK_VAR} "
        "or the ini key runbook_file")


def runbook_steps(config: pytest.Config) -> str:
    """The ``--runbook-steps`` listing for this run; one ``UsageError`` line when the runbook cannot
    be read or has no steps."""
    path, origin = runbook_path(config)
    try:
        sections = read_runbook(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise pytest.UsageError(f"cannot read the runbook {path} (from {origin}): {reason}") from None
    steps = [step for section in sections for step in section.steps]
    if not steps:
        raise pytest.UsageError(f"the runbook {path} (from {origin}) has no steps: "
                                "no ### section with numbered steps, lists or a code block")
    hook = config.hook.pytest_runbook_drills
    drills = None
    if hook.get_hookimpls():
        def drills(nodeid: str) -> list[str]:
            return [name for names in hook(config=config, check=nodeid) for name in names or ()]
    return steps_listing(steps, str(path), drills=drills)


def _heading(step) -> str:
    return f"{step.id}  {step.section}" + (f": {step.text}" if step.text else "")
