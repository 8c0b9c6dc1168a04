"""The sandbox signing with each key type passes the whole oauth bundle; a JWKS leaking the private
key fails only the breach check (the round trip verifies with public numbers, never a private key)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.suite.runner import REPO, assert_no_secrets, run_suite, sandbox_running

M = "test_oauth.py::"


@pytest.mark.parametrize("key_type, kty, alg", [("ec", "EC", "ES256"), ("ed25519", "OKP", "EdDSA")])
def test_a_sandbox_signing_with_an_ec_or_ed25519_key_passes_the_whole_oauth_bundle(tmp_path, key_type, kty, alg):
    state_dir = REPO / ".sandbox" / f"test-{key_type}-{uuid.uuid4().hex[:8]}"
    with sandbox_running(state_dir, "--key-type", key_type) as (_, env_file):
        jwks_url = next(line.split('"')[1] for line in env_file.read_text().splitlines()
                        if line.startswith("jwks_url"))
        published = httpx.get(jwks_url, timeout=5).json()["keys"]
        assert [(k["kty"], k["alg"]) for k in published] == [(kty, alg)]
        run = run_suite(tmp_path, "-m", "oauth", f"--env={env_file}")
    assert run.returncode == 0, run.output
    assert len(run.cases) == 17 and run.names("passed") == set(run.cases), run.output


def test_a_jwks_leaking_the_private_key_fails_only_the_breach_check_under_the_oauth_bundle(tmp_path):
    run = run_suite(tmp_path, "-m", "oauth", "--drill", "breach-jwks-private-key", "-l", "--tb=long")
    assert run.names("failed") == {M + "test_jwks_publishes_no_private_key_material"}, run.output
    assert run.names("error") == set() and "AttributeError" not in run.output
    assert "key 1 (kid=" in run.cases[M + "test_jwks_publishes_no_private_key_material"].text
    assert_no_secrets(run.everything())
