"""The runbook's steps, listed once (remediations/runbook.toml), and the marker that ties a check to them.

Every check names the step(s) of the runbook it automates::

    @pytest.mark.runbook("incident-3/investigation-2")

An id that is not in runbook.toml, or an incident check without the marker, stops the run at
collection (exit 4, through the remediation plugin's collection check). A failed or errored
check's step ids and the steps' text go into its JUnit properties (``runbook_step``).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from runbook.catalog import CATALOG_DIR, RUNBOOK_STEPS_FILE
from runbook.incidents import by_marker

__all__ = ["MARKER", "RunbookStep", "StepsError", "load_steps", "marker_problems", "step_ids"]

MARKER = "runbook"
_ID = re.compile(rf"^({'|'.join(i.steps for i in by_marker().values())})/[a-z]+(-[0-9]+)?$")


class StepsError(ValueError):
    """runbook.toml is invalid; one line naming the entry."""


@dataclass(frozen=True)
class RunbookStep:
    id: str  # "incident-3/investigation-2"
    section: str  # "Incident 3: OAuth Token Validation Failing"
    text: str = ""  # the runbook's own words for the step, when read from the runbook file itself

    def __str__(self) -> str:
        where = f"{self.section}, {self.id.partition('/')[2].replace('-', ' ')}"
        return f"{where}: {self.text}" if self.text else where


# Taken once, at import: a test that points the catalog elsewhere later must not move the steps.
STEPS_PATH = CATALOG_DIR / RUNBOOK_STEPS_FILE


@cache
def load_steps(path: Path = STEPS_PATH) -> dict[str, RunbookStep]:
    """Every runbook step by id, in the runbook's order."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StepsError(f"{path}: {exc}") from None
    steps: dict[str, RunbookStep] = {}
    for index, raw in enumerate(data.get("step", []), 1):
        if not isinstance(raw, dict) or set(raw) != {"id", "section"}:
            raise StepsError(f"{path}, step {index}: needs exactly id and section (the words stay in the runbook)")
        if not _ID.match(raw["id"]) or raw["id"] in steps:
            raise StepsError(f"{path}, step {index}: id {raw['id']!r} is malformed or repeated")
        steps[raw["id"]] = RunbookStep(raw["id"], raw["section"])
    if not steps:
        raise StepsError(f"{path}: no [[step]] entries")
    return steps


def step_ids(item: pytest.Item) -> list[str]:
    """The runbook step ids an item's ``runbook`` markers name, in order, without repeats."""
    ids: list[str] = []
    for marker in item.iter_markers(MARKER):
        ids += [a for a in marker.args if a not in ids]
    return ids


def marker_problems(item: pytest.Item, steps: dict[str, RunbookStep]) -> list[str]:
    """What is wrong with an incident check's ``runbook`` markers (empty when nothing)."""
    markers = list(item.iter_markers(MARKER))
    if not markers:
        return [f"{item.nodeid}: check has no @pytest.mark.runbook(step id); "
                "the ids are in remediations/runbook.toml"]
    problems = []
    for marker in markers:
        if not marker.args or marker.kwargs or not all(isinstance(a, str) for a in marker.args):
            problems.append(f"{item.nodeid}: runbook marker takes step id strings, "
                            "e.g. @pytest.mark.runbook(\"incident-3/investigation-2\")")
            continue
        for step in marker.args:
            if step not in steps:
                close = difflib.get_close_matches(step, list(steps), n=1)
                hint = f"did you mean {close[0]!r}?" if close else "see remediations/runbook.toml"
                problems.append(f"{item.nodeid}: unknown runbook step {step!r} ({hint})")
    return problems
