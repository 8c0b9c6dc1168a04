"""The remediation catalog's environment placeholders are exactly what the config provides."""

from __future__ import annotations

import dataclasses

from core.config import load_environment
from runbook.placeholders import PLACEHOLDERS, placeholders
from runbook.catalog import ENVIRONMENT_PLACEHOLDERS, load_catalog
from tests.suite.runner import REPO


def test_a_full_environment_provides_every_placeholder_the_catalog_may_name(tmp_path):
    environment = load_environment(REPO / "environments" / "production.toml", {"REDIS_PASSWORD": "x"})
    assert set(placeholders(environment)) == PLACEHOLDERS == ENVIRONMENT_PLACEHOLDERS


def test_the_rerun_command_repeats_the_selection_the_run_used(tmp_path):
    path = tmp_path / "staging-copy.toml"
    path.write_text((REPO / "environments" / "staging.toml").read_text())
    environment = dataclasses.replace(load_environment(path, {"REDIS_PASSWORD": "x"}),
                                      selection=str(path))
    rendered = load_catalog()["oauth.restart-pods"].render(placeholders(environment))
    assert f"pytest -m oauth --env={path}" in rendered


def test_the_redis_cli_commands_authenticate_by_the_variable_the_password_came_from_never_its_value(tmp_path):
    environment = load_environment(REPO / "environments" / "production.toml", {"REDIS_PASSWORD": "pw-never-printed"})
    rendered = load_catalog()["oauth.restore-revocation-store"].render(placeholders(environment))
    # Unset, redis-cli would answer NOAUTH and exit 0: the shell stops the command instead.
    assert 'REDISCLI_AUTH="${REDIS_PASSWORD:?export REDIS_PASSWORD first}" redis-cli -h ' in rendered
    assert "INFO memory" in rendered and "pw-never-printed" not in rendered
    path = tmp_path / "tls.toml"
    path.write_text('[redis]\nurl = "rediss://cache.internal:6380/2"\n')
    assert placeholders(load_environment(path, {}))["redis_cli"] == "redis-cli -h cache.internal -p 6380 --tls -n 2"
    # psql runs as the engineer's operator role, never as the suite's: without an operator_dsn, the
    # suite's DSN minus its user (libpq takes the engineer's PGUSER), and never the suite's password.
    path.write_text('[postgres]\ndsn = "host=db.internal dbname=app user=runbook_checks"\npassword = "${DB_PASSWORD}"\n')
    assert placeholders(load_environment(path, {"DB_PASSWORD": "pw"}))["psql"] == "psql 'host=db.internal dbname=app'"
    path.write_text('[postgres]\ndsn = "host=db.internal dbname=app user=runbook_checks"\n'
                    'operator_dsn = "service=ops"\noperator_password_env = "PG_OPERATOR_PASSWORD"\n')
    assert placeholders(load_environment(path, {}))["psql"] == (
        'PGPASSWORD="${PG_OPERATOR_PASSWORD:?export PG_OPERATOR_PASSWORD (the operator role\'s password)}" '
        "psql 'service=ops'")
