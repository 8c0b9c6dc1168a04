"""The runbook's resolution steps as data: loading, validating and rendering remediations/*.toml.

One TOML file per runbook section (``oauth.toml`` holds the entries of incident ``oauth``)::

    [[remediation]]
    id = "oauth.restart-pods"        # "<incident>.<action>", unique across the catalog
    title = "Restart the app pods so they reload the signing keys"
    section = "Incident 3: OAuth Token Validation Failing, resolution 3"
    incident = "oauth"               # one of INCIDENTS, equal to the file's name
    priority = 2                     # 1 = most urgent
    observations = ["pod_name"]      # optional: placeholders the failing check records

    [[remediation.steps]]
    text = "Restart the deployment."
    command = "kubectl rollout restart deployment {deployment} -n {namespace}{kubectl_target}"
    caution = false                  # optional: destructive or last-resort step

Placeholder rule: ``{name}`` in a step's ``text`` or ``command`` must be an environment placeholder
(:data:`ENVIRONMENT_PLACEHOLDERS`), the built-in ``{incident}`` (the entry's incident marker), or a
name the entry declares in ``observations``; every declared observation must be used, and must not
shadow an environment name. Literal braces are doubled (``{{.data.public}}``), as in ``str.format``.
A placeholder without a value renders visibly as ``<name>``; a :class:`~core.secret.Secret`
value renders as its redacted repr.
"""

from __future__ import annotations

import difflib
import re
import shlex
import string
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.secret import Secret
from runbook.incidents import INCIDENTS
from runbook.placeholders import PLACEHOLDERS

__all__ = [
    "BUILTIN_PLACEHOLDERS",
    "CATALOG_DIR",
    "Catalog",
    "CatalogError",
    "ENVIRONMENT_PLACEHOLDERS",
    "RUNBOOK_STEPS_FILE",
    "Remediation",
    "Step",
    "load_catalog",
    "render_value",
]

#: Placeholders the environment config provides (:func:`runbook.placeholders.placeholders`).
ENVIRONMENT_PLACEHOLDERS = PLACEHOLDERS

#: Placeholders every remediation fills itself: ``{incident}``, its marker, and ``{pytest}``, the
#: suite's own pytest (this interpreter, from the project's directory), so the re-run step works in a
#: shell where the project's venv is not activated.
BUILTIN_PLACEHOLDERS = frozenset({"incident", "pytest"})

#: The project's directory, where the suite's pytest runs from.
PROJECT_DIR = Path(__file__).resolve().parent.parent
#: The catalog's home: remediations/*.toml, one file per incident.
CATALOG_DIR = PROJECT_DIR / "remediations"
#: The runbook's step ids (runbook/steps.py), beside the catalog but not a catalog file.
RUNBOOK_STEPS_FILE = "runbook.toml"

_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9]+(?:-[a-z0-9]+)*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ENTRY_KEYS = {"id": str, "title": str, "section": str, "incident": str, "priority": int,
               "steps": list, "observations": list}
_REQUIRED_ENTRY_KEYS = ("id", "title", "section", "incident", "priority", "steps")
_STEP_KEYS = {"text": str, "command": str, "caution": bool}
_FORMATTER = string.Formatter()


class CatalogError(ValueError):
    """An invalid catalog file or entry; the message is one line naming the file and the entry."""


def render_value(value: object) -> str:
    """A placeholder value as text: secrets redacted, sequences space-separated."""
    if isinstance(value, Secret):
        return repr(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return " ".join(render_value(v) for v in value)
    return str(value)


def pytest_command() -> str:
    """``cd PROJECT && PYTHON -m pytest``: the suite's pytest as it runs now, whatever the shell's venv."""
    return f"cd {shlex.quote(str(PROJECT_DIR))} && {shlex.quote(sys.executable)} -m pytest"


def _placeholders(template: str) -> list[str]:
    """The ``{name}`` fields of a template; ValueError for a malformed one."""
    names = []
    for _, field, spec, conversion in _FORMATTER.parse(template):
        if field is None:
            continue
        if not _NAME.match(field) or spec or conversion:
            raise ValueError(f"placeholder {{{field}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}} is not a plain {{name}} "
                             f"(double literal braces: {{{{ }}}})")
        names.append(field)
    return names


def _fill(template: str, values: Mapping[str, object]) -> str:
    out = []
    for literal, field, _, _ in _FORMATTER.parse(template):
        out.append(literal)
        if field is not None:
            value = values.get(field)
            out.append(f"<{field}>" if value is None else render_value(value))
    return "".join(out)


def _escape_html(text: str) -> str:
    """Keep ``<pod_name>`` visible in Markdown (outside code it would read as an HTML tag)."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Step:
    """One resolution step: a sentence, optionally a command, flagged when destructive."""

    text: str
    command: str | None = None
    caution: bool = False

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(_placeholders(self.text) + _placeholders(self.command or ""))


@dataclass(frozen=True)
class Remediation:
    """A runbook resolution: what to do when the checks that name ``id`` fail."""

    id: str
    title: str
    section: str
    incident: str
    priority: int
    steps: tuple[Step, ...]
    observations: tuple[str, ...] = ()

    def _values(self, values: Mapping[str, object]) -> dict[str, object]:
        return {"incident": self.incident, "pytest": pytest_command(), **values}

    def render(self, values: Mapping[str, object]) -> str:
        """Numbered steps as plain text, commands on ``$`` lines, caution steps prefixed."""
        values = self._values(values)
        lines = []
        for number, step in enumerate(self.steps, 1):
            prefix = "CAUTION: " if step.caution else ""
            lines.append(f"{number}. {prefix}{_fill(step.text, values)}")
            if step.command:
                command = _fill(step.command, values).replace("\n", "\n     ")
                lines.append(f"   $ {command}")
        return "\n".join(lines)

    def render_markdown(self, values: Mapping[str, object]) -> str:
        """Numbered Markdown list, commands in fenced ``sh`` blocks, caution steps marked ⚠."""
        values = self._values(values)
        lines = []
        for number, step in enumerate(self.steps, 1):
            prefix = "⚠ **Caution:** " if step.caution else ""
            lines.append(f"{number}. {prefix}{_escape_html(_fill(step.text, values))}")
            if step.command:
                lines += ["   ```sh",
                          *(f"   {line}" for line in _fill(step.command, values).splitlines()),
                          "   ```"]
        return "\n".join(lines)


class Catalog(Mapping[str, Remediation]):
    """Remediations by id, in file and entry order."""

    def __init__(self, entries: Mapping[str, Remediation]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, key: str) -> Remediation:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<catalog {len(self)} remediations>"

    def suggest(self, wrong: str) -> str | None:
        """The catalog id closest to ``wrong``, if any is close."""
        match = difflib.get_close_matches(wrong, list(self._entries), n=1, cutoff=0.6)
        return match[0] if match else None

    def for_incident(self, incident: str) -> list[str]:
        return [rid for rid, r in self._entries.items() if r.incident == incident]


def _did_you_mean(wrong: str, choices) -> str:
    match = difflib.get_close_matches(wrong, sorted(choices), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _step(raw: object, where: str, number: int) -> Step:
    where = f"{where}, step {number}"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: a step must be a table with 'text'")
    for key, value in raw.items():
        if key not in _STEP_KEYS:
            raise CatalogError(f"{where}: unknown key {key!r}{_did_you_mean(key, _STEP_KEYS)}; "
                               f"allowed: {', '.join(_STEP_KEYS)}")
        if not isinstance(value, _STEP_KEYS[key]):
            raise CatalogError(f"{where}: {key} must be a {_STEP_KEYS[key].__name__}, "
                               f"not {type(value).__name__}")
    if not raw.get("text", "").strip():
        raise CatalogError(f"{where}: missing 'text'")
    if "command" in raw and not raw["command"].strip():
        raise CatalogError(f"{where}: empty 'command' (leave the key out instead)")
    step = Step(text=raw["text"].strip(), command=raw.get("command", "").strip() or None,
                caution=raw.get("caution", False))
    try:
        step.placeholders  # noqa: B018 - validates the templates
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    return step


def _entry(raw: object, file: str, index: int, stem: str) -> Remediation:
    where = f"{file}, entry {index}"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: [[remediation]] must be a table")
    if isinstance(raw.get("id"), str):
        where += f" ({raw['id']})"
    for key, value in raw.items():
        if key not in _ENTRY_KEYS:
            raise CatalogError(f"{where}: unknown key {key!r}{_did_you_mean(key, _ENTRY_KEYS)}; "
                               f"allowed: {', '.join(_ENTRY_KEYS)}")
        expected = _ENTRY_KEYS[key]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise CatalogError(f"{where}: {key} must be a{'n' if expected is int else ''} "
                               f"{expected.__name__}, not {type(value).__name__}")
    missing = [key for key in _REQUIRED_ENTRY_KEYS if key not in raw]
    if missing:
        raise CatalogError(f"{where}: missing {', '.join(missing)}")
    for key in ("id", "title", "section"):
        if not raw[key].strip():
            raise CatalogError(f"{where}: empty {key}")
    rid, incident = raw["id"], raw["incident"]
    if incident not in INCIDENTS:
        raise CatalogError(f"{where}: unknown incident {incident!r}"
                           f"{_did_you_mean(incident, INCIDENTS)}; known: {', '.join(INCIDENTS)}")
    if incident != stem:
        raise CatalogError(f"{where}: incident {incident!r} belongs in {incident}.toml, "
                           f"not {Path(file).name}")
    if not _ID.match(rid) or rid.partition(".")[0] != incident:
        raise CatalogError(f"{where}: id must read '{incident}.<action>' (lower-case words "
                           f"joined by '-'), not {rid!r}")
    if raw["priority"] < 1:
        raise CatalogError(f"{where}: priority must be 1 (most urgent) or more, not {raw['priority']}")
    if not raw["steps"]:
        raise CatalogError(f"{where}: no steps")
    steps = tuple(_step(s, where, n) for n, s in enumerate(raw["steps"], 1))
    observations = raw.get("observations", [])
    for name in observations:
        if not isinstance(name, str) or not _NAME.match(name):
            raise CatalogError(f"{where}: observation {name!r} is not a lower-case name")
        if name in ENVIRONMENT_PLACEHOLDERS | BUILTIN_PLACEHOLDERS:
            raise CatalogError(f"{where}: observation {name!r} shadows an environment placeholder")
    allowed = ENVIRONMENT_PLACEHOLDERS | BUILTIN_PLACEHOLDERS | set(observations)
    used: set[str] = set()
    for number, step in enumerate(steps, 1):
        for name in sorted(step.placeholders - allowed):
            raise CatalogError(
                f"{where}, step {number}: unknown placeholder {{{name}}}"
                f"{_did_you_mean(name, allowed)}; declare it in observations if the check records it")
        used |= step.placeholders
    for name in observations:
        if name not in used:
            raise CatalogError(f"{where}: observation {name!r} is declared but no step uses it")
    return Remediation(id=rid, title=raw["title"].strip(), section=raw["section"].strip(),
                       incident=incident, priority=raw["priority"], steps=steps,
                       observations=tuple(observations))


def load_catalog(directory: Path | str | None = None) -> Catalog:
    """Load and validate every ``*.toml`` in ``directory`` (default: this package's directory).

    Raises :class:`CatalogError` with one line naming the file and the entry.
    """
    directory = Path(directory) if directory is not None else CATALOG_DIR
    entries: dict[str, Remediation] = {}
    origin: dict[str, str] = {}
    files = sorted((p for p in directory.glob("*.toml") if p.name != RUNBOOK_STEPS_FILE),
                   key=lambda p: (INCIDENTS.index(p.stem) if p.stem in INCIDENTS else len(INCIDENTS),
                                  p.name))
    if not files:
        raise CatalogError(f"{directory}: no remediation files (*.toml)")
    for path in files:
        file = _display(path)
        if path.stem not in INCIDENTS:
            raise CatalogError(f"{file}: not a runbook section; name the file after one of "
                               f"{', '.join(INCIDENTS)}{_did_you_mean(path.stem, INCIDENTS)}")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{file}: invalid TOML: {exc}") from None
        unknown = sorted(set(data) - {"remediation"})
        if unknown:
            raise CatalogError(f"{file}: unknown top-level key {unknown[0]!r}; "
                               f"entries are [[remediation]] tables")
        raw_entries = data.get("remediation", [])
        if not isinstance(raw_entries, list) or not raw_entries:
            raise CatalogError(f"{file}: no [[remediation]] entries")
        for index, raw in enumerate(raw_entries, 1):
            remediation = _entry(raw, file, index, path.stem)
            if remediation.id in entries:
                raise CatalogError(f"{file}, entry {index} ({remediation.id}): duplicate id, "
                                   f"first defined in {origin[remediation.id]}")
            entries[remediation.id] = remediation
            origin[remediation.id] = f"{file}, entry {index}"
    return Catalog(entries)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
