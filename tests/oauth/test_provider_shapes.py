"""The whole ``-m oauth`` bundle against JWK Sets in the shapes real identity providers publish,
served from a loopback server: healthy providers pass, real breakages fail naming the URL, the key
and the rule, and a provider-owned JWKS never gets "restart the pods" as its remediation.

Each set holds the sandbox's own signing key in that provider's shape, so the secret, the
sign-and-verify round trip and the app's probe are checked too (the rest of the environment is the
running sandbox's).
"""

from __future__ import annotations

import json

import pytest

from sandbox.drills.oauth import JWKS_BLOCKED
from tests.oauth import provider_sets
from tests.oauth.conftest import start_sandbox
from tests.suite.runner import assert_no_secrets, run_suite

# One sandbox for the module, on one xdist worker (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("oauth-providers")

M = "test_oauth.py::"
ROLLOUT = "kubectl rollout restart"


@pytest.fixture(scope="module")
def sandbox():
    yield from start_sandbox()


def run_with(sandbox, jwks_server, tmp_path, name: str, document: dict | None = None, *, status: int = 200,
             headers: dict[str, str] | None = None, **oauth: str):
    url = jwks_server.serve(f"/{name}", json.dumps(document or {}).encode(), status=status, headers=headers)
    return url, run_suite(tmp_path, "-m", "oauth", "-l", "--tb=long",
                          sandbox.environment(tmp_path, jwks_url=url, **oauth))


HEALTHY = {
    "entra-id": (provider_sets.entra_id, "application/json; charset=utf-8", "served as application/json"),
    "keycloak": (provider_sets.keycloak, "application/json", "served as application/json"),
    "oidc-provider": (provider_sets.oidc_provider, "application/jwk-set+json; charset=utf-8",
                      "served as application/jwk-set+json"),
    "rsa-ec-okp-without-use": (provider_sets.mixed_types_without_use, "text/plain",
                               "served as text/plain, not application/jwk-set+json or application/json; "
                               "parsed as JSON anyway"),
}


@pytest.mark.parametrize("shape", HEALTHY, ids=list(HEALTHY))
def test_a_healthy_provider_shaped_jwks_passes_the_whole_oauth_bundle(sandbox, jwks_server, tmp_path, shape):
    build, content_type, note = HEALTHY[shape]
    _, run = run_with(sandbox, jwks_server, tmp_path, shape, build(sandbox.jwk),
                      headers={"Content-Type": content_type}, jwks_owner="identity-provider")
    assert run.returncode == 0, run.output
    assert len(run.cases) == 17 and run.names("passed") == set(run.cases), run.output
    served = run.cases[M + "test_jwks_endpoint_serves_json"].properties["jwks_media_type"]
    assert served.startswith(note), served


def test_a_jwks_that_redirects_fails_naming_the_target_and_suggests_the_providers_rollover(
        sandbox, jwks_server, tmp_path):
    target = jwks_server.serve("/v2/keys", json.dumps(provider_sets.entra_id(sandbox.jwk)).encode())
    url, run = run_with(sandbox, jwks_server, tmp_path, "moved", status=301, headers={"Location": target},
                        jwks_owner="identity-provider")
    assert run.names("failed") == {M + "test_jwks_endpoint_serves_json"}, run.output
    assert run.names("error") == JWKS_BLOCKED, run.output
    failure = run.cases[M + "test_jwks_endpoint_serves_json"]
    assert f"JWKS endpoint {url} answered HTTP 301 Moved Permanently redirecting to {target}" in failure.text
    assert "without following redirects" in failure.text
    assert_provider_remediation_only(run)


def test_a_year_long_cache_fails_naming_the_header_and_the_limit(sandbox, jwks_server, tmp_path):
    header = "public, max-age=31536000, immutable"
    url, run = run_with(sandbox, jwks_server, tmp_path, "cached", provider_sets.keycloak(sandbox.jwk),
                        headers={"Cache-Control": header}, jwks_owner="identity-provider")
    assert run.names("failed") == {M + "test_jwks_cache_lifetime_lets_clients_see_a_rotation"}, run.output
    text = run.cases[M + "test_jwks_cache_lifetime_lets_clients_see_a_rotation"].text
    assert f"JWKS {url} is served with Cache-Control: {header}" in text
    assert "31536000 s (365.0 days)" in text and "RFC 9111 section 5.2.2" in text
    assert "above oauth.max_jwks_cache_seconds = 86400 (default)" in text
    assert_provider_remediation_only(run)


def test_an_x5c_of_another_key_fails_naming_the_key_and_rfc_7517(sandbox, jwks_server, tmp_path):
    document = provider_sets.entra_id(sandbox.jwk)
    kid = document["keys"][1]["kid"]
    url, run = run_with(sandbox, jwks_server, tmp_path, "x5c", provider_sets.with_foreign_certificate(document, kid),
                        jwks_owner="identity-provider")
    assert run.names("failed") == {M + "test_jwks_certificates_hold_the_published_keys"}, run.output
    text = run.cases[M + "test_jwks_certificates_hold_the_published_keys"].text
    assert f"JWKS {url}: key 2 (kid={kid}): x5c[0] certificate" in text
    assert "RFC 7517 section 4.7: the certificate's key MUST match" in text
    assert "x5t is not the thumbprint of x5c[0]" not in text  # x5t was made to match the foreign certificate
    assert_provider_remediation_only(run)


def test_a_leading_zero_in_n_is_an_encoding_finding_and_the_key_still_counts_as_published(
        sandbox, jwks_server, tmp_path):
    document = provider_sets.oidc_provider(sandbox.jwk)
    url, run = run_with(sandbox, jwks_server, tmp_path, "zero",
                        provider_sets.with_leading_zero(document, sandbox.jwk["kid"]))
    assert run.names("failed") == {M + "test_jwks_keys_use_the_encoding_the_rfcs_require"}, run.output
    text = run.cases[M + "test_jwks_keys_use_the_encoding_the_rfcs_require"].text
    assert f"JWKS {url}: key 1 (kid={sandbox.jwk['kid']}): \"n\" has 1 leading zero octet" in text
    assert "RFC 7518 section 6.3.1.1" in text
    assert "not among" not in run.output  # the signing key is published: compared by its numbers
    assert run.cases[M + "test_jwks_keys_use_the_encoding_the_rfcs_require"].properties["remediation"] == \
        "oauth.fix-jwks-keys"


def assert_provider_remediation_only(run) -> None:
    """A provider-owned JWKS: its failures suggest the provider's key rollover, never a pod restart."""
    for case in run.cases.values():
        if case.outcome in ("failed", "error"):
            assert case.properties["remediation"] == "oauth.provider-key-rollover", case.name
            assert ROLLOUT not in case.text, case.name
    assert ROLLOUT not in run.output and ROLLOUT not in run.summary
    assert "Have the identity provider fix its published keys" in run.output
    assert_no_secrets(run.everything())


def test_one_slow_first_answer_is_measured_again_before_the_jwks_is_called_slow(sandbox, jwks_server, tmp_path):
    """The first GET shares the run's first moments with every other contact; over the budget, a
    second GET decides. A provider slow once (a cold cache, this process busy parsing) is not slow."""
    url = jwks_server.serve("/slow-once", json.dumps(provider_sets.keycloak(sandbox.jwk)).encode(), first_delay_s=1.8)
    run = run_suite(tmp_path, "-m", "oauth", "-k", "latency", sandbox.environment(tmp_path, jwks_url=url,
                                                                                   jwks_owner="identity-provider"))
    assert run.returncode == 0, run.output
