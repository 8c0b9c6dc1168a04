"""The remediation catalog's environment placeholders are exactly what the config provides."""

from __future__ import annotations

import dataclasses

from fixtures.config import PLACEHOLDERS, load_environment
from remediations.catalog import ENVIRONMENT_PLACEHOLDERS, load_catalog
from tests.suite.runner import REPO


def test_a_full_environment_provides_every_placeholder_the_catalog_may_name(tmp_path):
    environment = load_environment(REPO / "environments" / "production.toml", {"REDIS_PASSWORD": "x"})
    assert set(environment.placeholders()) == PLACEHOLDERS == ENVIRONMENT_PLACEHOLDERS


def test_the_rerun_command_repeats_the_selection_the_run_used(tmp_path):
    path = tmp_path / "staging-copy.toml"
    path.write_text((REPO / "environments" / "staging.toml").read_text())
    environment = dataclasses.replace(load_environment(path, {"REDIS_PASSWORD": "x"}),
                                      selection=str(path))
    rendered = load_catalog()["oauth.restart-pods"].render(environment.placeholders())
    assert f"pytest -m oauth --env={path}" in rendered
