"""Environment selection and files: precedence, validation, secrets only by reference."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.config import load_environment, resolve_selection
from fixtures.secret import Secret

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
        (None, {}, None, ("sandbox", "default")),
        (None, {}, "staging", ("staging", "ini key runbook_env")),
        (None, {"RUNBOOK_ENV": "production"}, "staging", ("production", "RUNBOOK_ENV")),
        ("mine.toml", {"RUNBOOK_ENV": "production"}, "staging", ("mine.toml", "--env")),
    ],
)
def test_selection_precedence_is_ini_then_variable_then_command_line(cli, environ, ini, expected):
    assert resolve_selection(cli, environ, ini) == expected


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
    values = load_environment(path, {}).placeholders()
    assert values["kubectl_target"] == " --context prod-eks"
    assert (values["namespace"], values["deployment"]) == ("production", "app-backend")


def test_a_secret_field_is_read_from_the_referenced_variable_and_never_shown(tmp_path):
    path = write(tmp_path, MINIMAL + '[redis]\nurl = "redis://cache:6379/0"\npassword = "${CACHE_PW}"\n')
    environment = load_environment(path, {"CACHE_PW": "hunter2-secret"})
    assert isinstance(environment.redis.password, Secret)
    assert environment.redis.password.reveal() == "hunter2-secret"
    assert "hunter2" not in repr(environment.redis)
    assert "hunter2" not in str(environment.placeholders())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL + "[redis]\nurl = 'redis://c:6379'\npassword = 'literal'\n",
         "redis.password: must be a ${VAR} reference"),
        (MINIMAL + "[redis]\nurl = 'redis://:pw@c:6379'\n", "redis.url carries a password"),
        (MINIMAL + "[postgres]\ndsn = 'host=db password=pw'\n", "postgres.dsn carries a password"),
        (MINIMAL + "[redis]\nurl = 'redis://c:6379'\npassword = '${UNSET_VAR_X}'\n",
         "references ${UNSET_VAR_X}, which is not set"),
        (MINIMAL.replace("jwks_url", "jwks_ur"), "oauth.jwks_ur: unknown key (did you mean jwks_url?)"),
        (MINIMAL + "[oath]\n", "unknown section [oath] (did you mean oauth?)"),
        (MINIMAL.replace('secret_name = "jwt-keys"', ""), "[oauth] is missing required key secret_name"),
        (MINIMAL + "min_rsa_bits = 'big'\n", "oauth.min_rsa_bits: expected int, got str 'big'"),
        (MINIMAL + "min_rsa_bits = -1\n", "oauth.min_rsa_bits: must not be negative"),
        (MINIMAL + "token_error_pattern = '(unclosed'\n", "oauth.token_error_pattern: not a valid regular expression"),
        ("[kubernetes\n", "not valid TOML"),
    ],
)
def test_a_bad_environment_file_is_one_line_naming_file_and_key(tmp_path, text, expected):
    message = usage_error(write(tmp_path, text))
    assert expected in message
    assert message.startswith(str(tmp_path / "target.toml")) or message.startswith("target.toml")
    assert "\n" not in message


def run_suite(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
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
    assert "unknown drill 'oauth-nope' from --drill; known: oauth-key-mismatch" in result.stdout + result.stderr


def test_the_report_header_names_the_environment_checked(tmp_path):
    path = write(tmp_path, MINIMAL.replace("https://api.example.test", "http://127.0.0.1:9"), "staging-like.toml")
    # Outside the repository, the path goes in the --env=PATH form (pytest picks its rootdir from
    # path-like arguments before any plugin registers --env); README says so.
    result = run_suite("-m", "oauth", f"--env={path}", "-k", "jwks_endpoint_serves_json")
    assert f"runbook environment: staging-like ({path}), namespace production, deployment app-backend" in result.stdout
