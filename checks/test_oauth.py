"""Incident 3: OAuth Token Validation Failing (mass 401s, "Invalid token").

Investigation: the jwt-keys secret, the JWKS endpoint, the token revocation list in Redis, the
pods' logs. Each check below is one thing that must hold for tokens to validate.
"""

import pytest

from core.jose import certificate_findings
from fixtures.oauth import jwks_key_problems

pytestmark = [pytest.mark.oauth]


@pytest.mark.runbook("incident-3/investigation-2")
@pytest.mark.remediation("oauth.fix-jwks-endpoint", identity_provider="oauth.provider-key-rollover")
def test_jwks_endpoint_serves_json(jwks_response, request):
    """The JWKS endpoint answers 200 with a JSON key set, without redirecting.

    Runbook, Incident 3, investigation 2: curl https://api.ytvideocreator.com/oauth/jwks.json.
    """
    request.node.user_properties.append(("jwks_media_type", jwks_response.media_type_note))
    assert jwks_response.keys is not None, (
        f"JWKS endpoint {jwks_response.url} {jwks_response.problem}; "
        "clients cannot fetch the keys to validate tokens"
    )


@pytest.mark.runbook("incident-3/investigation-2")
@pytest.mark.remediation("oauth.fix-jwks-endpoint", identity_provider="oauth.provider-key-rollover")
def test_jwks_endpoint_answers_within_latency_budget(env, jwks_response, jwks_latency_ms):
    """The JWKS endpoint answers within the latency budget.

    Runbook, Incident 3, investigation 2: the JWKS endpoint, timed.
    """
    budget = env.oauth.jwks_latency_budget_ms
    assert jwks_latency_ms <= budget, (
        f"JWKS endpoint {jwks_response.url} answered in {jwks_latency_ms:.0f} ms, "
        f"above {env.cite('oauth.jwks_latency_budget_ms')}"
    )


@pytest.mark.runbook("incident-3/investigation-2", "incident-3/resolution-3")
@pytest.mark.remediation("oauth.fix-jwks-cache-lifetime", identity_provider="oauth.provider-key-rollover")
def test_jwks_cache_lifetime_lets_clients_see_a_rotation(env, jwks_response, jwks):
    """Clients may cache the JWKS no longer than the limit, so they pick up a key rotation.

    Runbook, Incident 3, resolution 3: after a rotation, clients must fetch the new key set.
    """
    lifetime = jwks_response.cache_lifetime
    limit = env.oauth.max_jwks_cache_seconds
    assert lifetime is None or lifetime[0] <= limit, (
        f"JWKS {jwks.url} is served with {lifetime[1]}: clients and caches may keep the old keys for "
        f"{lifetime[0]:.0f} s ({lifetime[0] / 86400:.1f} days) after a rotation (RFC 9111 section 5.2.2), "
        f"above {env.cite('oauth.max_jwks_cache_seconds')}"
    )


@pytest.mark.runbook("incident-3/investigation-2")
@pytest.mark.remediation("oauth.fix-jwks-endpoint", identity_provider="oauth.provider-key-rollover")
def test_jwks_publishes_at_least_one_signing_key(jwks):
    """The JWKS publishes at least one valid key for signatures (use sig or absent, not an encryption key).

    Runbook, Incident 3, investigation 2: the JWKS endpoint serves the public keys.
    """
    assert jwks.signing_keys, (
        f"JWKS {jwks.url} publishes {len(jwks.keys)} keys, none a valid signature key "
        f"(RFC 7517 section 4.2: use sig or absent; encryption keys do not verify tokens): {jwks.listing()}"
    )


@pytest.mark.runbook("incident-3/investigation-2", "incident-3/resolution-1")
@pytest.mark.remediation("oauth.fix-jwks-keys", identity_provider="oauth.provider-key-rollover")
def test_jwks_keys_are_well_formed(env, jwks):
    """Every published key is a valid public key of its type, consistent in kid, use, alg and key_ops.

    Runbook, Incident 3, investigation 2 and resolution 1: a rotation must not publish broken keys.
    """
    problems = {key.label: found for key, found in jwks_key_problems(env, jwks) if found}
    assert not problems, f"JWKS {jwks.url}: " + "; ".join(
        f"{name}: {', '.join(found)}" for name, found in problems.items())


@pytest.mark.runbook("incident-3/investigation-2")
@pytest.mark.remediation("oauth.fix-jwks-keys", identity_provider="oauth.provider-key-rollover")
def test_jwks_keys_use_the_encoding_the_rfcs_require(jwks):
    """Every published key encodes its numbers as RFC 7518 requires (minimal integers, full-size coordinates).

    Runbook, Incident 3, investigation 2: verifiers that follow the RFCs strictly reject other encodings.
    """
    findings = {key.label: key.encoding for key in jwks.keys if key.encoding}
    assert not findings, f"JWKS {jwks.url}: " + "; ".join(
        f"{name}: {', '.join(found)}" for name, found in findings.items())


@pytest.mark.runbook("incident-3/investigation-2")
@pytest.mark.remediation("oauth.fix-jwks-keys", identity_provider="oauth.provider-key-rollover")
def test_jwks_certificates_hold_the_published_keys(jwks):
    """Every published key with an x5c chain carries, in its leaf certificate, the same key.

    Runbook, Incident 3, investigation 2: RFC 7517 section 4.7, the certificate MUST match the key.
    """
    findings = {key.label: found for key in jwks.keys if (found := certificate_findings(key))}
    assert not findings, f"JWKS {jwks.url}: " + "; ".join(
        f"{name}: {', '.join(found)}" for name, found in findings.items())


@pytest.mark.runbook("incident-3/investigation-2", "breach/investigation-3")
@pytest.mark.breach
@pytest.mark.remediation("breach.rotate-signing-keys")
def test_jwks_publishes_no_private_key_material(jwks):
    """No published key carries private members (d, p, q, dp, dq, qi, oth, k).

    Runbook, Data Breach Detected: a JWKS that leaks the private key lets anyone mint tokens.
    """
    leaking = {key.label: key.private_members for key in jwks.keys if key.private_members}
    assert not leaking, (
        f"JWKS {jwks.url} publishes private key members (values not shown): "
        + ", ".join(f"{label}: {'/'.join(members)}" for label, members in leaking.items())
    )


@pytest.mark.runbook("incident-3/investigation-1")
@pytest.mark.remediation("oauth.restore-jwt-keys")
def test_jwt_keys_secret_holds_a_key_pair(env, jwt_keys_secret):
    """Secret jwt-keys exists with a private and a public field.

    Runbook, Incident 3, investigation 1: kubectl get secret jwt-keys -n production -o yaml.
    """
    name = f"{env.kubernetes.namespace}/{env.oauth.secret_name}"
    assert jwt_keys_secret is not None, f"secret {name} does not exist"
    assert not jwt_keys_secret.missing_fields, (
        f"secret {name} lacks field(s) {', '.join(jwt_keys_secret.missing_fields)}; "
        f"it has {sorted(jwt_keys_secret.fields)} (oauth.private_key_field / oauth.public_key_field)"
    )


@pytest.mark.runbook("incident-3/resolution-1")
@pytest.mark.remediation("oauth.verify-key-pair")
def test_secret_private_key_matches_secret_public_key(signing_key, observed):
    """The private and public keys in secret jwt-keys are halves of one key pair.

    Runbook, Incident 3, resolution 1: check if public/private keys match.
    """
    observed(thumbprint=signing_key.thumbprint[:12])
    assert signing_key.public_problem is None, f"secret {signing_key.secret}: {signing_key.public_problem}"
    assert signing_key.public_thumbprint == signing_key.thumbprint, (
        f"secret {signing_key.secret}: the private key (thumbprint {signing_key.thumbprint[:12]}…) and the "
        f"public key (thumbprint {signing_key.public_thumbprint[:12]}…) are not one key pair"
    )


@pytest.mark.runbook("incident-3/investigation-1", "incident-3/investigation-2")
@pytest.mark.remediation("oauth.restart-pods", identity_provider="oauth.provider-key-rollover")
def test_signing_key_is_published_in_jwks(signing_key, jwks):
    """The private key in secret jwt-keys has its public half published in the JWKS for signatures.

    Runbook, Incident 3, investigation 1-2: the jwt-keys secret and the JWKS endpoint. Keys are
    compared by their public numbers (RFC 7638 thumbprint of the minimal encoding).
    """
    assert jwks.published_as(signing_key.thumbprint) is not None, (
        f"signing key of secret {signing_key.secret} (thumbprint {signing_key.thumbprint[:12]}…) is not among the "
        f"{len(jwks.keys)} keys published for signatures at {jwks.url}: {jwks.listing()}"
        + ("; the pods still serve the previous key set" if jwks.signing_keys else "")
    )


@pytest.mark.runbook("incident-3/resolution-1")
@pytest.mark.remediation("oauth.restart-pods", identity_provider="oauth.provider-key-rollover")
def test_token_signed_with_secret_key_verifies_against_jwks(env, signing_key, jwks):
    """A token signed with the private key in jwt-keys verifies against the published JWKS.

    Runbook, Incident 3, resolution 1: verify key rotation did not break validation.
    """
    failure = signing_key.verify_against(jwks, issuer=env.oauth.issuer, audience=env.oauth.audience)
    assert failure is None, (
        f"a token signed with the key of secret {signing_key.secret} (thumbprint {signing_key.thumbprint[:12]}…) "
        f"does not verify against {jwks.url}: {failure}"
    )


@pytest.mark.runbook("incident-3/resolution-1")
@pytest.mark.remediation("oauth.restart-pods")
def test_app_accepts_token_signed_with_current_key(env, probe_response):
    """The app accepts a token signed with the key in secret jwt-keys (no 401 for valid tokens).

    Runbook, Incident 3, symptoms: mass 401 Unauthorized; the probe URL is the app's own check.
    """
    assert probe_response.status == 200, (
        f"{probe_response.url} answered {probe_response.status} to a token signed with the current key "
        f"in secret {env.kubernetes.namespace}/{env.oauth.secret_name}, expected 200: {probe_response.detail}"
    )


@pytest.mark.runbook("incident-3/investigation-3", "outage/investigation-4")
@pytest.mark.outage
@pytest.mark.remediation("oauth.restore-revocation-store")
def test_revocation_store_answers_ping(redis_ping):
    """The token revocation store (Redis) answers PING.

    Runbook, Incident 3, investigation 3 (redis-cli) and Complete System Outage: redis-cli ping.
    """
    assert redis_ping.problem is None, f"Redis {redis_ping.url} did not answer PING: {redis_ping.problem}"


@pytest.mark.runbook("incident-3/investigation-3")
@pytest.mark.remediation("oauth.stop-revocation-flood")
def test_revocation_list_is_within_limit(env, revocation_count):
    """The revocation list holds no more keys than the limit.

    Runbook, Incident 3, investigation 3: KEYS token:* / DBSIZE, done as a bounded SCAN.
    """
    found = f"{revocation_count.keys}{'' if revocation_count.complete else '+'}"
    assert revocation_count.keys <= env.redis.max_revocation_keys, (
        f"{found} keys match {revocation_count.pattern} at {revocation_count.url}, "
        f"above {env.cite('redis.max_revocation_keys')}"
    )


@pytest.mark.runbook("incident-3/investigation-3")
@pytest.mark.remediation("oauth.expire-revocation-entries")
def test_revocation_entries_expire(revocation_count):
    """Every sampled revocation entry has a TTL, so the list does not grow forever.

    Runbook, Incident 3, investigation 3: the token revocation list in Redis.
    """
    assert revocation_count.without_ttl == 0, (
        f"{revocation_count.without_ttl} of {revocation_count.sampled} sampled {revocation_count.pattern} keys at "
        f"{revocation_count.url} never expire (TTL -1); revocation entries must expire with the token"
    )


@pytest.mark.runbook("incident-3/investigation-4")
@pytest.mark.remediation("oauth.investigate-token-errors")
def test_pod_logs_show_no_token_error_burst(env, token_errors, observed):
    """No pod logged more jwt/token errors than the threshold in its recent log.

    Runbook, Incident 3, investigation 4: kubectl logs deployment/app-backend | grep -i "jwt\\|token".
    """
    pod, lines = token_errors.worst
    observed(pod_name=pod)
    limit = env.oauth.max_token_errors_in_logs
    assert len(lines) <= limit, (
        f"pod {pod}: {len(lines)} jwt/token errors in its last {token_errors.tail_lines} log lines, "
        f"above {env.cite('oauth.max_token_errors_in_logs')}; latest: {lines[-1][:200]}"
    )
