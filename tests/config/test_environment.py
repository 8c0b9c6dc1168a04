"""Environment selection and files: precedence, validation, secrets only by reference."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import compile_pattern, load_environment, resolve_selection
from runbook.placeholders import placeholders
from core.secret import Secret

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """\
[kubernetes]
namespace = "production"
deployment = "app-backend"
pod_selector = "app=app-backend"

[oauth]
jwks_url = "https://api.example.test/oauth/jwks.json"
secret_name = "jwt-keys"
"""


def write(tmp_path: Path, text: str, name: str = "target.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def usage_error(path: Path, environ: dict | None = None) -> str:
    with pytest.raises(pytest.UsageError) as excinfo:
        load_environment(path, environ or {})
    return str(excinfo.value)


@pytest.mark.parametrize(
    ("cli", "environ", "ini", "expected"),
    [
        (None, {}, None, (None, "default")),
        (None, {}, "staging", ("staging", "ini key runbook_env")),
        (None, {"RUNBOOK_ENV": "production"}, "staging", ("production", "RUNBOOK_ENV")),
        ("mine.toml", {"RUNBOOK_ENV": "production"}, "staging", ("mine.toml", "--env")),
    ],
)
def test_selection_precedence_is_ini_then_variable_then_command_line(cli, environ, ini, expected):
    assert resolve_selection(cli, environ, ini) == expected
    if expected[0] is not None:
        assert resolve_selection(cli, environ, ini, "sandbox") == expected


def test_a_default_another_plugin_names_comes_last():
    assert resolve_selection(None, {}, None, "sandbox") == ("sandbox", "default")


def test_the_production_example_loads_with_the_runbooks_names():
    environment = load_environment(REPO / "environments" / "production.toml", {"REDIS_PASSWORD": "pw"})
    assert environment.name == "production"
    assert environment.kubernetes.namespace == "production"
    assert environment.kubernetes.deployment == "app-backend"
    assert environment.oauth.secret_name == "jwt-keys"
    assert environment.oauth.jwks_url == "https://api.ytvideocreator.com/oauth/jwks.json"
    assert environment.aws.bucket == "ytvideocreator-media"
    assert (environment.aws.role_name, environment.aws.role_policy_name) == ("eks-app-backend-role", "S3Access")


def test_every_shipped_environment_file_is_valid():
    for path in sorted((REPO / "environments").glob("*.toml")):
        load_environment(path, {"REDIS_PASSWORD": "pw"})


def test_a_threshold_cites_the_file_when_set_and_default_otherwise(tmp_path):
    path = write(tmp_path, MINIMAL + "jwks_latency_budget_ms = 250\n")
    environment = load_environment(path, {})
    assert environment.cite("oauth.jwks_latency_budget_ms").startswith("oauth.jwks_latency_budget_ms = 250 (")
    assert "target.toml)" in environment.cite("oauth.jwks_latency_budget_ms")
    assert environment.cite("oauth.min_rsa_bits") == "oauth.min_rsa_bits = 2048 (default)"


def test_placeholders_fill_the_exact_kubectl_target(tmp_path):
    path = write(tmp_path, MINIMAL.replace('namespace = "production"',
                                           'namespace = "production"\ncontext = "prod-eks"'))
    values = placeholders(load_environment(path, {}))
    assert values["kubectl_target"] == " --context prod-eks"
    assert (values["namespace"], values["deployment"]) == ("production", "app-backend")


def test_a_secret_field_is_read_from_the_referenced_variable_and_never_shown(tmp_path):
    path = write(tmp_path, MINIMAL + '[redis]\nurl = "redis://cache:6379/0"\npassword = "${CACHE_PW}"\n')
    environment = load_environment(path, {"CACHE_PW": "hunter2-secret"})
    assert isinstance(environment.redis.password, Secret)
    assert environment.redis.password.reveal() == "hunter2-secret"
    assert "hunter2" not in repr(environment.redis)
    assert "hunter2" not in str(placeholders(environment))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL + "[redis]\nurl = 'redis://c:6379'\npassword = 'literal'\n",
         "redis.password: must be a ${VAR} reference"),
        (MINIMAL + "[redis]\nurl = 'redis://:pw@c:6379'\n", "redis.url: carries credentials (user:password@)"),
        (MINIMAL + "[redis]\nurl = 'redis://c:6379/0?password=pw'\n", "redis.url: carries a credential in its query (password=…)"),
        (MINIMAL + "[postgres]\ndsn = 'host=db password=pw'\n", "postgres.dsn carries a password"),
        (MINIMAL + "[postgres]\ndsn = 'host=db sslpassword=pw'\n", "postgres.dsn carries a password"),
        (MINIMAL + "[postgres]\ndsn = 'postgresql://db/app?password=pw'\n", "postgres.dsn carries a password"),
        (MINIMAL.replace("https://api", "https://user:pw@api"), "oauth.jwks_url: carries credentials (user:password@)"),
        (MINIMAL + "probe_url = 'https://u@api.example.test/me'\n", "oauth.probe_url: carries credentials"),
        (MINIMAL + "probe_url = 'https://api.example.test/me?access_token=x'\n", "oauth.probe_url: carries a credential in its query"),
        (MINIMAL + "probe_url = 'http://[::1'\n", "oauth.probe_url: not a valid URL (Invalid IPv6 URL)"),
        (MINIMAL + "probe_url = 'http://api:99999/'\n", "oauth.probe_url: not a valid URL (Port out of range 0-65535)"),
        (MINIMAL + "probe_url = 'ftp://api/'\n", "oauth.probe_url: scheme 'ftp' is not one of https, http"),
        (MINIMAL + "probe_url = '/api/v1/me'\n", "oauth.probe_url: scheme '(none)' is not one of https, http"),
        (MINIMAL + "request_timeout_seconds = inf\n", "oauth.request_timeout_seconds: must be a finite number, got inf"),
        (MINIMAL + "request_timeout_seconds = nan\n", "oauth.request_timeout_seconds: must be a finite number, got nan"),
        (MINIMAL + "request_timeout_seconds = 0\n", "oauth.request_timeout_seconds: must be greater than 0, got 0"),
        (MINIMAL + "request_timeout_seconds = -2.5\n", "oauth.request_timeout_seconds: must not be negative, got -2.5"),
        (MINIMAL + "request_timeout_seconds = 1e9\n", "oauth.request_timeout_seconds: must be at most 600 s"),
        (MINIMAL + "[redis]\nurl = 'redis://c:6379'\nscan_count = 0\n", "redis.scan_count: must be greater than 0, got 0"),
        (MINIMAL.replace('"jwt-keys"', '"jwt-keys\\u001b[2J"'), "oauth.secret_name: contains the control character '\\x1b'"),
        (MINIMAL.replace('"jwt-keys"', '"jwt\\r-keys"'), "oauth.secret_name: contains the control character '\\r'"),
        (MINIMAL + "token_error_pattern = '(token)\\1'\n", "oauth.token_error_pattern: not a regular expression RE2 accepts"),
        ("", "configures nothing to check (no section besides [environment])"),
        ("[environment]\nname = 'x'\n", "configures nothing to check"),
        (MINIMAL + "[redis]\nurl = 'redis://c:6379'\npassword = '${UNSET_VAR_X}'\n",
         "references ${UNSET_VAR_X}, which is not set"),
        (MINIMAL.replace("jwks_url", "jwks_ur"), "oauth.jwks_ur: unknown key (did you mean jwks_url?)"),
        (MINIMAL + "[oath]\n", "unknown section [oath] (did you mean oauth?)"),
        (MINIMAL.replace('secret_name = "jwt-keys"', ""), "[oauth] is missing required key secret_name"),
        (MINIMAL + "min_rsa_bits = 'big'\n", "oauth.min_rsa_bits: expected int, got str 'big'"),
        (MINIMAL + "min_rsa_bits = -1\n", "oauth.min_rsa_bits: must not be negative"),
        (MINIMAL + "token_error_pattern = '(unclosed'\n", "oauth.token_error_pattern: not a regular expression RE2 accepts (missing ): (unclosed)"),
        ("[kubernetes\n", "not valid TOML"),
    ],
)
def test_a_bad_environment_file_is_one_line_naming_file_and_key(tmp_path, text, expected):
    message = usage_error(write(tmp_path, text))
    assert expected in message
    assert message.startswith(str(tmp_path / "target.toml")) or message.startswith("target.toml")
    assert "\n" not in message


def test_a_catastrophic_pattern_is_accepted_and_runs_in_linear_time(tmp_path):
    environment = load_environment(write(tmp_path, MINIMAL + "token_error_pattern = '(\\w|\\w)*\\)\\)'\n"), {})
    pattern = compile_pattern(environment.oauth.token_error_pattern)
    started = time.monotonic()
    assert pattern.search("a" * 200_000 + ")") is None
    assert time.monotonic() - started < 1  # Python's re takes minutes on this line


@pytest.mark.parametrize(("content", "expected"), [
    (b"\x7fELF\x02\x01\x01\x00\x00", "target.toml: is a binary file (NUL byte at offset 7), not a TOML environment file"),
    ('[kubernetes]\nnamespace = "producci\u00f3n"\n'.encode("latin-1"),
     "target.toml: is not UTF-8 text (byte 0xf3 at offset 34); save it as UTF-8"),
    (b"", "target.toml: configures nothing to check (no section besides [environment]); known sections: "
          "kubernetes, oauth, redis, postgres, db_pool, aws, s3, app, links, outage, deploy, rollback"),
], ids=["binary", "latin-1", "empty"])
def test_an_unreadable_or_empty_environment_file_stops_the_run_with_exit_4_and_one_line(tmp_path, content, expected):
    (tmp_path / "target.toml").write_bytes(content)
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "oauth",
                             f"--env={tmp_path / 'target.toml'}"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 4, output
    assert output.splitlines() == [f"ERROR: {tmp_path}/{expected}"]


def run_suite(*args: str, env: dict | None = None, sandbox: bool = True) -> subprocess.CompletedProcess:
    """The suite in a subprocess, with the sandbox's plugin as `make check` loads it (``sandbox=False``:
    as a run against production, without it)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *(["-p", "sandbox.plugin"] if sandbox else []), *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_a_missing_environment_file_stops_the_run_with_exit_4_and_one_line():
    result = run_suite("-m", "oauth", "--env", "environments/does-not-exist.toml")
    assert result.returncode == 4, result.stdout + result.stderr
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output
    assert output.splitlines() == [
        f"ERROR: invalid environment 'environments/does-not-exist.toml' from --env: no file "
        f"{Path('environments/does-not-exist.toml')} (known: sandbox, production, production-incluster, staging)"
    ]


def test_without_the_sandbox_plugin_a_run_that_names_no_environment_stops_saying_how_to_name_one():
    result = run_suite("-m", "oauth", sandbox=False, env={"RUNBOOK_ENV": ""})
    assert result.returncode == 4, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip().splitlines() == [
        "ERROR: no environment to check: name one with --env NAME|PATH, $RUNBOOK_ENV or the ini key runbook_env "
        "(environments/*.toml; the local sandbox: -p sandbox.plugin, as make check does)"]


def test_an_unknown_environment_name_from_the_variable_names_the_variable():
    result = run_suite("-m", "oauth", env={"RUNBOOK_ENV": "prod"})
    assert result.returncode == 4
    assert "invalid environment 'prod' from RUNBOOK_ENV: no file" in result.stdout + result.stderr


def test_a_drill_against_a_real_environment_is_refused():
    result = run_suite("-m", "oauth", "--env", "production", "--drill", "oauth-key-mismatch",
                       env={"REDIS_PASSWORD": "x"})
    assert result.returncode == 4
    assert "--drill oauth-key-mismatch works only against the sandbox" in result.stdout + result.stderr


def test_an_unknown_drill_is_refused_with_the_known_ones():
    result = run_suite("-m", "oauth", "--drill", "oauth-nope")
    assert result.returncode == 4
    output = result.stdout + result.stderr
    assert "unknown drill 'oauth-nope' from --drill; known: " in output
    assert re.search(r"known: .*\boauth-key-mismatch\b", output)


def test_the_report_header_names_the_environment_checked(tmp_path):
    path = write(tmp_path, MINIMAL.replace("https://api.example.test", "http://127.0.0.1:9"), "staging-like.toml")
    # Outside the repository, the path goes in the --env=PATH form (pytest picks its rootdir from
    # path-like arguments before any plugin registers --env); README says so.
    result = run_suite("-m", "oauth", f"--env={path}", "-k", "jwks_endpoint_serves_json")
    assert f"runbook environment: staging-like ({path}), namespace production, deployment app-backend" in result.stdout
