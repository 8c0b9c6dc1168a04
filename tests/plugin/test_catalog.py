"""The catalog: the runbook's resolution steps as validated data, and how they render."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from core.secret import Secret
from runbook.catalog import CatalogError, Remediation, Step, load_catalog
from runbook.incidents import INCIDENTS

VALID = """
[[remediation]]
id = "oauth.restart-pods"
title = "Restart the app pods"
section = "Incident 3: OAuth Token Validation Failing, resolution 3"
incident = "oauth"
priority = 2
observations = ["pod_name"]

[[remediation.steps]]
text = "Restart; pod {pod_name} was the first to fail."
command = "kubectl rollout restart deployment {deployment} -n {namespace}{kubectl_target}"

[[remediation.steps]]
text = "Confirm."
command = "pytest -m {incident} --env {env}"
caution = true
"""


def write(tmp_path: Path, text: str, name: str = "oauth.toml") -> Path:
    (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def test_a_valid_file_loads_into_frozen_remediations(tmp_path):
    catalog = load_catalog(write(tmp_path, VALID))
    remediation = catalog["oauth.restart-pods"]
    assert list(catalog) == ["oauth.restart-pods"]
    assert remediation.observations == ("pod_name",)
    assert remediation.steps[1] == Step("Confirm.", "pytest -m {incident} --env {env}", caution=True)
    with pytest.raises(AttributeError):
        remediation.title = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(("change", "message"), [
    (("priority = 2", "priority = 2\ncomand = 'x'"),
     "oauth.toml, entry 1 (oauth.restart-pods): unknown key 'comand'"),
    (('title = "Restart the app pods"\n', ""), "oauth.toml, entry 1 (oauth.restart-pods): missing title"),
    (("priority = 2", "priority = 'high'"), "priority must be an int, not str"),
    (("priority = 2", "priority = 0"), "priority must be 1 (most urgent) or more, not 0"),
    (('id = "oauth.restart-pods"', 'id = "cpu.restart-pods"'),
     "entry 1 (cpu.restart-pods): id must read 'oauth.<action>'"),
    (('id = "oauth.restart-pods"', 'id = "oauth.Restart_Pods"'), "id must read 'oauth.<action>'"),
    (('incident = "oauth"', 'incident = "oath"'), "unknown incident 'oath' (did you mean 'oauth'?)"),
    (('incident = "oauth"', 'incident = "cpu"'), "incident 'cpu' belongs in cpu.toml, not oauth.toml"),
    (("{namespace}{kubectl", "{namespce}{kubectl"),
     "entry 1 (oauth.restart-pods), step 1: unknown placeholder {namespce} (did you mean 'namespace'?)"),
    (("{pod_name} was", "{pod} was"), "step 1: unknown placeholder {pod}"),
    (("{deployment}", "{deployment!r}"), "step 1: placeholder {deployment!r} is not a plain {name}"),
    (("{deployment}", "{.data.public}"), "step 1: placeholder {.data.public} is not a plain {name}"),
    (('observations = ["pod_name"]', 'observations = ["pod_name", "pids"]'),
     "observation 'pids' is declared but no step uses it"),
    (('observations = ["pod_name"]', 'observations = ["pod_name", "namespace"]'),
     "observation 'namespace' shadows an environment placeholder"),
    (('text = "Confirm."', 'txt = "Confirm."'), "step 2: unknown key 'txt' (did you mean 'text'?)"),
    (("caution = true", "caution = 'yes'"), "step 2: caution must be a bool, not str"),
])
def test_an_invalid_entry_is_one_line_naming_the_file_and_the_entry(tmp_path, change, message):
    old, new = change
    assert old in VALID
    with pytest.raises(CatalogError) as excinfo:
        load_catalog(write(tmp_path, VALID.replace(old, new, 1)))
    text = str(excinfo.value)
    assert "\n" not in text
    assert text.startswith(str(tmp_path / "oauth.toml"))
    assert message in text


def test_a_duplicate_id_names_both_places(tmp_path):
    write(tmp_path, VALID + VALID)
    with pytest.raises(CatalogError, match=r"entry 2 \(oauth.restart-pods\): duplicate id, "
                                           r"first defined in .*oauth.toml, entry 1"):
        load_catalog(tmp_path)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("misc.toml", VALID, "misc.toml: not a runbook section"),
    ("oauth.toml", "[[remediation]\n", "oauth.toml: invalid TOML"),
    ("oauth.toml", "[meta]\nx = 1\n", "oauth.toml: unknown top-level key 'meta'"),
    ("oauth.toml", "", "oauth.toml: no [[remediation]] entries"),
])
def test_an_invalid_file_is_named(tmp_path, name, text, message):
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_catalog(write(tmp_path, text, name))


def test_the_plugin_turns_a_catalog_error_into_a_usage_error(pytester, monkeypatch):
    from runbook import catalog as catalog_module
    # Imported before the patch: runbook.steps takes its default path from CATALOG_DIR at import,
    # and a first import under the patch would point every later in-process run at the broken folder.
    from runbook import steps  # noqa: F401

    broken = pytester.mkdir("broken")
    write(broken, VALID.replace("priority = 2", "priority = 0"))
    monkeypatch.setattr(catalog_module, "CATALOG_DIR", broken)
    result = pytester.runpytest("-p", "runbook.plugin")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: remediation catalog: *oauth.toml, entry 1 (oauth.restart-pods): "
                                 "priority must be 1 (most urgent) or more, not 0"])


def remediation() -> Remediation:
    return Remediation(
        id="db_pool.kill-idle", title="Kill idle", section="Incident 2, resolution 2",
        incident="db_pool", priority=2, observations=("pids",),
        steps=(Step("List them in {namespace}."),
               Step("Terminate PIDs {pids}.", "{psql} -c \"SELECT pg_terminate_backend({{pid}})\"",
                    caution=True)),
    )


def test_render_numbers_steps_fills_placeholders_and_marks_caution():
    text = remediation().render({"namespace": "production", "psql": "psql 'host=db'",
                                 "pids": [123, 456]})
    assert text == ("1. List them in production.\n"
                    "2. CAUTION: Terminate PIDs 123 456.\n"
                    "   $ psql 'host=db' -c \"SELECT pg_terminate_backend({pid})\"")


def test_an_unfilled_placeholder_renders_visibly_not_as_an_error():
    assert remediation().render({}).splitlines()[0] == "1. List them in <namespace>."
    assert "$ <psql> -c" in remediation().render({"psql": None})


def test_a_secret_value_renders_only_as_its_redacted_repr():
    password = Secret("hunter2", "postgres password")
    text = remediation().render({"psql": password, "pids": ("1", password)})
    markdown = remediation().render_markdown({"psql": password})
    assert "hunter2" not in text + markdown
    assert "$ <postgres password: redacted> -c" in text
    assert "PIDs 1 <postgres password: redacted>" in text


def test_render_markdown_fences_commands_and_marks_caution():
    markdown = remediation().render_markdown({"psql": "psql"})
    assert markdown == ("1. List them in &lt;namespace&gt;.\n"
                        "2. ⚠ **Caution:** Terminate PIDs &lt;pids&gt;.\n"
                        "   ```sh\n"
                        "   psql -c \"SELECT pg_terminate_backend({pid})\"\n"
                        "   ```")


# --- the real catalog ---

#: Every resolution step of the runbook, as the catalog's ``section`` fields cite them.
RUNBOOK_RESOLUTIONS = {
    **{incident: [f"resolution {n}" for n in range(1, 5)]
       for incident in ("cpu", "db_pool", "oauth", "s3", "memory", "outage")},
    "breach": ["patch vulnerabilities", "rotate all credentials", "revoke compromised tokens"],
    "deploy": ["step 4", "step 5", "step 6"],
    "rollback": [f"step {n}" for n in range(1, 5)],
}


def cited(section: str) -> set[str]:
    """The runbook steps a section string cites: "resolution 1, 3, 4", "steps 1-4", "(rotate ...)"."""
    steps = set(re.findall(r"\(([a-z ]+)\)", section))
    for word, numbers in re.findall(r"\b(resolution|steps?) (\d+(?:(?:, |-)\d+)*)", section):
        word = "step" if word.startswith("step") else word
        for part in numbers.split(","):
            low, _, high = part.strip().partition("-")
            steps |= {f"{word} {n}" for n in range(int(low), int(high or low) + 1)}
    return steps


def test_the_real_catalog_loads():
    catalog = load_catalog()
    assert {r.incident for r in catalog.values()} == set(INCIDENTS)


@pytest.mark.parametrize("incident", INCIDENTS)
def test_every_runbook_resolution_step_has_an_entry(incident):
    catalog = load_catalog()
    sections = [r.section for r in catalog.values() if r.incident == incident]
    covered = set().union(*map(cited, sections))
    assert set(RUNBOOK_RESOLUTIONS[incident]) <= covered, sections


def test_breach_entries_carry_the_notifications_and_emergencies_are_most_urgent():
    catalog = load_catalog()
    breach_text = " ".join(s.text for r in catalog.values() if r.incident == "breach" for s in r.steps)
    assert "notify affected users and the authorities within 72 hours" in breach_text
    assert {r.priority for r in catalog.values() if r.incident in ("outage", "breach")} == {1}
    assert min(r.priority for r in catalog.values() if r.incident not in ("outage", "breach")) > 1


def test_every_kubectl_and_aws_command_is_aimed_at_the_environment():
    for remediation in load_catalog().values():
        for step in remediation.steps:
            for segment in re.split(r"&&|\|\||;|\|", step.command or ""):
                segment = segment.strip()
                if segment.startswith("kubectl "):
                    assert "{kubectl_target}" in segment, (remediation.id, segment)
                if segment.startswith("aws "):
                    assert "{aws_target}" in segment, (remediation.id, segment)
                assert not segment.startswith(("psql ", "redis-cli ")), (remediation.id, segment)


def test_destructive_commands_are_marked_caution():
    destructive = re.compile(r"FLUSHDB|pg_terminate_backend|generate_jwt_keys|rollout undo|"
                             r"helm rollback|kubectl drain|put-public-access-block")
    for remediation in load_catalog().values():
        for step in remediation.steps:
            if step.command and destructive.search(step.command):
                assert step.caution, (remediation.id, step.command)


def test_oauth_restart_renders_to_the_runbook_command():
    text = load_catalog()["oauth.restart-pods"].render(
        {"deployment": "app-backend", "namespace": "production", "kubectl_target": ""})
    assert "kubectl rollout restart deployment app-backend -n production\n" in text
