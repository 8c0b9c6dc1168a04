"""The OAuth settings issue 6 adds: who owns the JWKS, and how long clients may cache it."""

from __future__ import annotations

import pytest

from core.config import load_environment

BASE = '[oauth]\njwks_url = "https://idp.example.test/keys"\nsecret_name = "jwt-keys"\n'


def test_jwks_owner_defaults_to_the_app_and_the_cache_limit_to_a_day(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text(BASE)
    environment = load_environment(path, {})
    assert environment.oauth.jwks_owner == "app"
    assert environment.cite("oauth.max_jwks_cache_seconds") == "oauth.max_jwks_cache_seconds = 86400 (default)"


def test_an_unknown_jwks_owner_is_refused_in_one_line_naming_the_key(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text(BASE + 'jwks_owner = "idp"\n')
    with pytest.raises(pytest.UsageError) as error:
        load_environment(path, {})
    assert str(error.value).endswith("oauth.jwks_owner: must be one of 'app', 'identity-provider', got 'idp'")
