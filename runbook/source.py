"""The runbook itself, read from the file the user names (``--runbook=PATH``, ``$RUNBOOK_FILE``, ini
``runbook_file``): its sections and their steps, with the ids the checks' ``@pytest.mark.runbook`` markers use.

A section is a ``###`` heading; the incident it belongs to is the one whose runbook section
(:mod:`runbook.incidents`) the heading or its ``##`` parent names, and its ids take that incident's
prefix (``incident-2/investigation-1``). A section no incident names keeps its own words as the
prefix (``certificate-expiry/...``), so a new runbook section shows up, with every step uncovered.
A part is a bold ``**Investigation**:`` line (``symptoms``, ``investigation``, ``resolution``,
``prevention``, ``immediate``, ``remediation``), or ``step`` for a section that is one code block.
Its steps are the numbered comments in its code block (``# 1. Check pod CPU usage``, ``-- Check
active connections``), its numbered list items, or its bullets, in order; the symptoms are one step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from runbook.incidents import by_marker
from runbook.steps import RunbookStep

__all__ = ["RunbookSection", "parse_runbook", "read_runbook"]

_SECTION = re.compile(r"^###\s+(.*\S)\s*$")
_CHAPTER = re.compile(r"^##\s+(.*\S)\s*$")
_PART = re.compile(r"^\*\*([A-Z][A-Za-z ]+)\*\*(?:\s*\([^)]*\))?:\s*$")
_NUMBERED_COMMENT = re.compile(r"^(?:#|--)\s*(\d+)\.\s+(.*\S)")
_COMMENT = re.compile(r"^(?:#|--)\s+([A-Z].*\S)")
_NUMBERED_ITEM = re.compile(r"^(\d+)\.\s+(.*\S)")
_BULLET = re.compile(r"^[-*]\s+(.*\S)")


@dataclass(frozen=True)
class RunbookSection:
    title: str
    prefix: str
    incident: str | None  # the marker, or None for a section no incident names
    steps: tuple[RunbookStep, ...]


def read_runbook(path: Path | str) -> list[RunbookSection]:
    """The runbook file's sections; ``OSError`` or ``UnicodeDecodeError`` when it cannot be read."""
    return parse_runbook(Path(path).read_text(encoding="utf-8"))


def _clean(text: str) -> str:
    return re.sub(r"\*\*|`", "", text).strip()


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section"


def _incident(title: str, chapter: str) -> tuple[str, str, str | None]:
    """(section name, id prefix, marker) for a ``###`` heading under its ``##`` chapter."""
    for marker, incident in by_marker().items():
        if incident.section.lower() in title.lower() or incident.section.lower() == chapter.lower():
            return incident.section, incident.steps, marker
    words = re.sub(r"^[^A-Za-z0-9]+", "", title)
    return words, _slug(words), None


def parse_runbook(text: str) -> list[RunbookSection]:
    """The sections of a runbook's Markdown text, in order, each with its steps."""
    sections: list[RunbookSection] = []
    chapter, current, part, in_code = "", None, None, False
    steps: list[tuple[str, str, list[str]]] = []  # (part, words, commands)
    numbered: set[str] = set()  # the parts of the current section whose code numbers its steps

    def close() -> None:
        if current is None:
            return
        name, prefix, marker = current
        listed: list[RunbookStep] = []
        seen: dict[str, int] = {}
        for step_part, words, commands in steps:
            if step_part == "symptoms":
                continue
            seen[step_part] = seen.get(step_part, 0) + 1
            command = next((c for c in commands if c), "")
            text = f"{words} ({command})" if command else words
            listed.append(RunbookStep(f"{prefix}/{step_part}-{seen[step_part]}", name, text))
        symptoms = [words for step_part, words, _ in steps if step_part == "symptoms"]
        if symptoms:
            listed.insert(0, RunbookStep(f"{prefix}/symptoms", name, "Symptoms: " + ", ".join(symptoms)))
        sections.append(RunbookSection(name, prefix, marker, tuple(listed)))

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            in_code = not in_code
            if in_code and current is not None and part is None:
                part = "step"
            continue
        if not in_code and (match := _CHAPTER.match(raw)):  # a "## " comment in a code block is no chapter
            close()
            current, chapter, part, steps = None, _clean(match.group(1)), None, []
            continue
        if not in_code and (match := _SECTION.match(raw)):
            close()
            current, part, steps, numbered = _incident(_clean(match.group(1)), chapter), None, [], set()
            continue
        if current is None:
            continue
        if in_code:
            if match := _NUMBERED_COMMENT.match(line):
                steps.append((part, _clean(match.group(2)), []))
                numbered.add(part)
            elif match := _COMMENT.match(line):
                if part not in numbered:  # in a numbered block, a second comment line belongs to its step
                    steps.append((part, _clean(match.group(1)), []))
            elif line and not line.startswith(("#", "--", ">")) and steps and steps[-1][0] == part:
                if not steps[-1][2]:
                    steps[-1][2].append(line.rstrip("\\").strip())
            continue
        if match := _PART.match(line):
            part = match.group(1).split()[0].lower()
            continue
        if part is None:
            continue
        if match := _NUMBERED_ITEM.match(line):
            steps.append((part, _clean(match.group(2)), []))
        elif match := _BULLET.match(line):
            steps.append((part, _clean(match.group(1)), []))
    close()
    return sections
