"""Every remediation, rendered as an engineer would read it, is right for its cause and runs as printed:
no harmful remedy, no write step as the suite's own identity, no placeholder left, every wait bounded
and no failure hidden (issue 17). Rendered for production.toml and for a sandbox-like environment
that names separate suite and operator identities, with a value for every declared observation."""

from __future__ import annotations

import re
import shlex
import sys

import pytest

from core.config import load_environment
from runbook.catalog import BUILTIN_PLACEHOLDERS, ENVIRONMENT_PLACEHOLDERS, load_catalog
from runbook.placeholders import placeholders
from tests.suite.runner import REPO

SUITE_USER, SUITE_CONTEXT = "runbook_checks", "runbook-checks"

SANDBOX_LIKE = f"""
[environment]
name = "sandbox-like"
[kubernetes]
kubeconfig = "/tmp/state/kubeconfig"
context = "{SUITE_CONTEXT}"
operator_context = "sandbox-admin"
namespace = "production"
deployment = "app-backend"
pod_selector = "app=app-backend"
[oauth]
jwks_url = "http://127.0.0.1:8080/oauth/jwks.json"
secret_name = "jwt-keys"
[redis]
url = "redis://127.0.0.1:6390/0"
password = "${{SANDBOX_REDIS_PASSWORD}}"
[postgres]
dsn = "host=127.0.0.1 port=5440 dbname=app user={SUITE_USER} passfile=/tmp/state/pgpass"
operator_dsn = "host=127.0.0.1 port=5440 dbname=app user=runbook_operator passfile=/tmp/state/pgpass"
[aws]
region = "us-east-1"
bucket = "media"
role_name = "app-role"
role_policy_name = "S3Access"
endpoint_url = "http://127.0.0.1:5000"
profile = "sandbox"
[app]
health_live_url = "http://127.0.0.1:8080/health/live"
health_ready_url = "http://127.0.0.1:8080/health/ready"
[rollback]
helm_release = "app-backend"
"""

#: A value for every observation a check may record, shaped as the checks record them.
OBSERVATIONS = {
    "pod_name": "app-backend-7d9f-x2", "node_name": "node-2", "container": "app", "replicas": 3,
    "target_replicas": 10, "pids": ["4242", "4243"], "idle_minutes": "10", "application": "app-backend",
    "applications": ["app-backend"], "safe_pool_size": 3, "max_replicas": 10, "usable_slots": 37,
    "thumbprint": "abcdef012345", "service_account": "app-backend", "statement": "DenyPut",
    "current_limit": "1Gi", "suggested_limit": "2Gi", "expected_version": "1.43.1",
    "reason": "Helm revision v6 of app-backend is failed", "revision": "v5",
}


def environments(tmp_path):
    path = tmp_path / "sandbox-like.toml"
    path.write_text(SANDBOX_LIKE)
    return {"production": load_environment(REPO / "environments" / "production.toml", {"REDIS_PASSWORD": "x"}),
            "sandbox-like": load_environment(path, {"SANDBOX_REDIS_PASSWORD": "x"})}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """(environment, remediation id, step number, text, command) of every step, rendered."""
    out = []
    catalog = load_catalog()
    for name, env in environments(tmp_path_factory.mktemp("env")).items():
        values = {**placeholders(env), **OBSERVATIONS}
        for rid, remediation in catalog.items():
            for number, step in enumerate(remediation.steps, 1):
                one = type(remediation)(**{**remediation.__dict__, "steps": (step,)})
                lines = one.render(values).splitlines()
                text = lines[0].split(". ", 1)[1]
                command = "\n".join(lines[1:]).strip().removeprefix("$ ") if step.command else ""
                out.append((name, rid, number, text, command))
    return out


def commands(rendered):
    return [(env, rid, n, c) for env, rid, n, _, c in rendered if c]


def segments(command: str) -> list[str]:
    return [s.strip(" ()") for s in re.split(r"&&|\|\||;|\|(?!\|)|\$\(", command)]


# --- 1. remedies matched to causes, nothing harmful ---


def test_no_step_deletes_revocation_entries(rendered):
    for env, rid, n, c in commands(rendered):
        assert not re.search(r"FLUSHDB|FLUSHALL|\bDEL\b|\bUNLINK\b", c), (rid, n, c)


def test_every_helm_rollback_names_its_revision_and_reads_the_history_first(rendered):
    for env, rid, n, c in commands(rendered):
        for found in re.finditer(r"helm rollback (\S+)( \S+)?", c):
            assert found.group(2) and not found.group(2).strip().startswith("-"), (rid, n, c)
            assert c.index("helm history") < found.start(), (rid, n, c)


def test_a_disabled_kms_key_is_enabled_and_cancel_deletion_only_runs_for_pending_deletion(rendered):
    for env, rid, n, c in commands(rendered):
        if "cancel-key-deletion" in c:
            assert re.search(r'if \[ "\$STATE" = PendingDeletion \]; then aws kms cancel-key-deletion', c), c
            assert "aws kms enable-key" in c.split("fi &&", 1)[1]


def test_the_breach_stops_the_leak_before_rotating_and_keeps_no_key_in_evidence():
    steps = load_catalog()["breach.rotate-signing-keys"].steps
    commands_ = [s.command or "" for s in steps]
    contain = next(i for i, c in enumerate(commands_) if c == "{rollback_command}")
    rotate = next(i for i, c in enumerate(commands_) if "genpkey" in c)
    assert contain < rotate
    evidence = next(c for c in commands_ if "jwks-evidence.json" in c)
    assert "private_members" in evidence and "umask 077" in evidence
    assert not re.search(r"\{jwks_url\} > ", evidence)  # the raw JWKS, private members and all, is never saved


def test_each_check_is_answered_by_the_remedy_for_its_cause():
    catalog = load_catalog()
    node = catalog["cpu.relieve-node"]
    node_commands = " ".join(s.command or "" for s in node.steps)
    assert "kubectl cordon" in node_commands and "kubectl drain" in node_commands
    assert "rollout restart" not in node_commands
    assert catalog["memory.find-leaks"].priority < catalog["memory.scale-out"].priority
    assert "resources" in (catalog["memory.find-leaks"].steps[0].command or "")
    crash = " ".join(s.command or "" for s in catalog["memory.restart-pods"].steps)
    assert "kubectl delete pod {pod_name}" in crash and "rollout restart" not in crash
    scale = " ".join(s.text + (s.command or "") for s in catalog["cpu.scale-out"].steps)
    assert "usable_slots" in scale and "DATABASE_POOL_SIZE" in scale
    trust = " ".join(s.command or "" for s in catalog["s3.fix-trust-policy"].steps)
    assert "aws iam update-assume-role-policy" in trust
    assert "put-key-policy" in " ".join(s.command or "" for s in catalog["s3.fix-kms-key-policy"].steps)
    assert "{rollback_command}" not in " ".join(s.command or "" for s in catalog["deploy.match-version"].steps)
    expire = " ".join(s.command or "" for s in catalog["oauth.expire-revocation-entries"].steps)
    assert "EXPIRE" in expire and " NX" in expire


@pytest.mark.parametrize(("check", "remediation"), [
    ("test_cpu.py::test_nodes_running_the_pods_have_cpu_headroom", "cpu.relieve-node"),
    ("test_oauth.py::test_jwks_cache_lifetime_lets_clients_see_a_rotation", "oauth.fix-jwks-cache-lifetime"),
    ("test_oauth.py::test_jwks_keys_are_well_formed", "oauth.fix-jwks-keys"),
    ("test_oauth.py::test_jwks_keys_use_the_encoding_the_rfcs_require", "oauth.fix-jwks-keys"),
    ("test_oauth.py::test_jwks_certificates_hold_the_published_keys", "oauth.fix-jwks-keys"),
    ("test_oauth.py::test_revocation_entries_expire", "oauth.expire-revocation-entries"),
    ("test_oauth.py::test_revocation_list_is_within_limit", "oauth.stop-revocation-flood"),
    ("test_oauth.py::test_pod_logs_show_no_token_error_burst", "oauth.investigate-token-errors"),
    ("test_s3.py::test_role_trust_policy_lets_the_service_account_assume_it", "s3.fix-trust-policy"),
    ("test_s3.py::test_kms_key_policy_lets_the_role_use_the_key", "s3.fix-kms-key-policy"),
    ("test_db_pool.py::test_postgres_accepts_the_suite_connection", "db_pool.free-slots"),
    ("test_rollback.py::test_previous_helm_revision_was_healthy", "rollback.to-healthy-revision"),
])
def test_a_split_cause_keeps_its_own_remedy(check, remediation):
    module, name = check.split("::")
    source = (REPO / "checks" / module).read_text()
    marker = re.search(r'@pytest\.mark\.remediation\("([^"]+)"[^\n]*\n(?:@[^\n]*\n)*def ' + name + r"\(", source)
    assert marker and marker.group(1) == remediation


def test_a_human_decision_says_so_and_prints_a_command_that_shows_what_to_change():
    for rid, remediation in load_catalog().items():
        for number, step in enumerate(remediation.steps, 1):
            if "human decision" in step.text and rid not in ("oauth.provider-key-rollover",):
                shown = step.command or (remediation.steps[number].command if number < len(remediation.steps) else None)
                assert shown or any(s.command for s in remediation.steps[:number]), (rid, number)


# --- 2. identities ---


def test_no_command_runs_as_the_suites_own_identity(rendered):
    for env, rid, n, c in commands(rendered):
        assert f"user={SUITE_USER}" not in c, (env, rid, n, c)
        assert not re.search(rf"--(kube-)?context[ =]{SUITE_CONTEXT}\b", c), (env, rid, n, c)


def test_psql_and_helm_use_the_operator_identity_the_environment_names(rendered):
    sandbox = [(rid, c) for env, rid, n, c in commands(rendered) if env == "sandbox-like"]
    assert any("user=runbook_operator" in c for _, c in sandbox)
    for rid, c in sandbox:
        for segment in segments(c):
            if segment.startswith("helm "):
                assert "--kube-context sandbox-admin" in segment, (rid, segment)
            if segment.startswith("kubectl "):
                assert "--context sandbox-admin" in segment, (rid, segment)


# --- 3. no placeholder ---


def test_no_rendered_step_holds_a_placeholder(rendered):
    for env, rid, n, text, c in rendered:
        for where in (text, c):
            assert not re.search(r"<[a-z_][a-z0-9_-]*>", where), (env, rid, n, where)
            assert "/path/from/above" not in where, (env, rid, n, where)
        names = "|".join(sorted(ENVIRONMENT_PLACEHOLDERS | BUILTIN_PLACEHOLDERS | set(OBSERVATIONS)))
        assert not re.search(rf"(?<!\$){{({names})}}", text + c), (env, rid, n, text, c)


# --- 4. bounded, honest commands ---


def test_every_wait_is_bounded(rendered):
    for env, rid, n, c in commands(rendered):
        for segment in segments(c):
            if re.match(r"kubectl (rollout status|wait|drain)\b", segment) or (
                    segment.startswith("kubectl delete pod") and "--wait" in segment):
                assert "--timeout" in segment, (rid, n, segment)
            if segment.startswith("kubectl drain"):
                assert "--ignore-daemonsets" in segment and "--force" in segment, (rid, n, segment)
            if segment.startswith("helm rollback"):
                assert "--timeout" in segment, (rid, n, segment)
            if segment.startswith("curl "):
                assert "--max-time" in segment, (rid, n, segment)


def unquoted_pipes(command: str) -> list[int]:
    """Positions of the shell's pipes: ``|`` outside quotes, not part of ``||``."""
    found, quote, i = [], None, 0
    while i < len(command):
        ch = command[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "|":
            if command[i + 1:i + 2] == "|":
                i += 1
            elif command[i - 1:i] != "|":
                found.append(i)
        i += 1
    return found


def test_no_pipe_hides_a_failure(rendered):
    for env, rid, n, c in commands(rendered):
        assert not re.search(r"\|\s*(head|tail)\b", c), (rid, n, c)
        for pipe in unquoted_pipes(c):
            assert "set -o pipefail" in c[:pipe], (rid, n, c)


def test_only_flags_and_scripts_that_exist(rendered):
    for env, rid, n, c in commands(rendered):
        assert not re.search(r"--scan\b[^|;&]*--count", c), (rid, n, c)  # redis-cli 7.0 has no --count
        for script in re.findall(r"\b(scripts/\S+\.py)", c):
            assert (REPO / script).exists(), (rid, n, script)


def test_helm_commands_carry_the_kube_context(rendered):
    for env, rid, n, c in commands(rendered):
        for segment in segments(c):
            if segment.startswith("helm "):
                assert "--kube-context " in segment, (env, rid, segment)


def test_the_rerun_step_works_outside_an_activated_venv(rendered):
    for env, rid, n, c in commands(rendered):
        for segment in segments(c):
            if re.match(r"(\S+/)?pytest\b", segment):
                pytest.fail(f"{rid} step {n}: bare pytest needs an activated venv: {segment}")
        if "-m pytest" in c:
            assert f"{shlex.quote(sys.executable)} -m pytest" in c, (rid, n, c)
            assert f"cd {shlex.quote(str(REPO))} && " in c, (rid, n, c)


def test_key_material_goes_only_to_a_private_temporary_directory_removed_afterwards(rendered):
    for env, rid, n, c in commands(rendered):
        if re.search(r"kubectl exec .* cat |genpkey|base64 -d >|openssl rand", c):
            assert "umask 077" in c and "mktemp -d" in c and "trap 'rm -rf \"$D\"' EXIT" in c, (rid, n, c)
            assert not re.search(r"> (jwt-|\S+\.pem)", c), (rid, n, c)


def test_no_command_prints_the_slow_query_text_unmasked(rendered):
    for env, rid, n, c in commands(rendered):
        if "pg_stat_activity" in c and re.search(r"\bquery\b", c.split("FROM", 1)[0]):
            assert "regexp_replace(left(query" in c, (rid, n, c)
