"""Incident 3: OAuth Token Validation Failing (mass 401s, "Invalid token").

Investigation: the jwt-keys secret, the JWKS endpoint, the token revocation list in Redis, the
pods' logs. Each check below is one thing that must hold for tokens to validate.
"""

import pytest

from fixtures.jose import jwk_thumbprint, rsa_modulus_bits
from fixtures.oauth import PRIVATE_JWK_MEMBERS

pytestmark = [pytest.mark.oauth]


@pytest.mark.remediation("oauth.fix-jwks-endpoint")
@pytest.mark.runbook("incident-3/investigation-2")
def test_jwks_endpoint_serves_json(jwks_response):
    """The JWKS endpoint answers 200 with a JSON key set.

    Runbook, Incident 3, investigation 2: curl https://api.ytvideocreator.com/oauth/jwks.json.
    """
    assert jwks_response.document is not None, (
        f"JWKS endpoint {jwks_response.url} {jwks_response.problem}; "
        "clients cannot fetch the keys to validate tokens"
    )


@pytest.mark.remediation("oauth.fix-jwks-endpoint")
@pytest.mark.runbook("incident-3/investigation-2")
def test_jwks_endpoint_answers_within_latency_budget(env, jwks_response, jwks_latency_ms):
    """The JWKS endpoint answers within the latency budget.

    Runbook, Incident 3, investigation 2: the JWKS endpoint, timed.
    """
    budget = env.oauth.jwks_latency_budget_ms
    assert jwks_latency_ms <= budget, (
        f"JWKS endpoint {jwks_response.url} answered in {jwks_latency_ms:.0f} ms, "
        f"above {env.cite('oauth.jwks_latency_budget_ms')}"
    )


@pytest.mark.remediation("oauth.fix-jwks-endpoint")
@pytest.mark.runbook("incident-3/investigation-2")
def test_jwks_publishes_at_least_one_signing_key(jwks):
    """The JWKS publishes at least one key with use=sig.

    Runbook, Incident 3, investigation 2: the JWKS endpoint serves the public keys.
    """
    signing = [k for k in jwks.keys if k.get("use", "sig") == "sig"]
    assert signing, f"JWKS {jwks.url} publishes {len(jwks.keys)} keys, none for signatures (use=sig)"


@pytest.mark.remediation("oauth.fix-jwks-endpoint")
@pytest.mark.runbook("incident-3/investigation-2", "incident-3/resolution-1")
def test_jwks_keys_are_well_formed(env, jwks):
    """Every published key has kty, a unique kid, alg, use=sig and, for RSA, at least the minimum size.

    Runbook, Incident 3, investigation 2 and resolution 1: a rotation must not publish broken keys.
    """
    problems = {}
    kids = jwks.kids
    for index, key in enumerate(jwks.keys):
        found = []
        if key.get("kty") not in ("RSA", "EC", "OKP"):
            found.append(f"kty {key.get('kty')!r} is not RSA, EC or OKP")
        if not key.get("kid"):
            found.append("no kid")
        elif kids.count(key["kid"]) > 1:
            found.append(f"kid published {kids.count(key['kid'])} times")
        if not key.get("alg"):
            found.append("no alg")
        if key.get("use") != "sig":
            found.append(f"use is {key.get('use')!r}, not 'sig'")
        if jwk_thumbprint(key) is None:
            found.append(f"missing the members of a {key.get('kty')} public key")
        elif key.get("kty") == "RSA":
            bits = rsa_modulus_bits(key["n"])
            if bits < env.oauth.min_rsa_bits:
                found.append(f"RSA modulus of {bits} bits, below {env.cite('oauth.min_rsa_bits')}")
        if found:
            problems[f"key {index + 1} of {len(jwks.keys)} (kid={key.get('kid')})"] = found
    assert not problems, f"JWKS {jwks.url}: " + "; ".join(
        f"{name}: {', '.join(found)}" for name, found in problems.items())


@pytest.mark.breach
@pytest.mark.remediation("breach.rotate-signing-keys")
@pytest.mark.runbook("incident-3/investigation-2", "breach/investigation-3")
def test_jwks_publishes_no_private_key_material(jwks):
    """No published key carries private members (d, p, q, dp, dq, qi, oth, k).

    Runbook, Data Breach Detected: a JWKS that leaks the private key lets anyone mint tokens.
    """
    leaking = {k.get("kid"): sorted(m for m in PRIVATE_JWK_MEMBERS if m in k) for k in jwks.keys}
    leaking = {kid: members for kid, members in leaking.items() if members}
    assert not leaking, (
        f"JWKS {jwks.url} publishes private key members (values not shown): "
        + ", ".join(f"kid={kid}: {'/'.join(m)}" for kid, m in leaking.items())
    )


@pytest.mark.remediation("oauth.regenerate-keys")
@pytest.mark.runbook("incident-3/investigation-1")
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


@pytest.mark.remediation("oauth.verify-key-pair")
@pytest.mark.runbook("incident-3/resolution-1")
def test_secret_private_key_matches_secret_public_key(signing_key, observed):
    """The private and public keys in secret jwt-keys are halves of one key pair.

    Runbook, Incident 3, resolution 1: check if public/private keys match.
    """
    observed(kid=signing_key.thumbprint[:12])
    assert signing_key.public_problem is None, f"secret {signing_key.secret}: {signing_key.public_problem}"
    assert signing_key.public_thumbprint == signing_key.thumbprint, (
        f"secret {signing_key.secret}: the private key (thumbprint {signing_key.thumbprint[:12]}…) and the "
        f"public key (thumbprint {signing_key.public_thumbprint[:12]}…) are not one key pair"
    )


@pytest.mark.remediation("oauth.restart-pods")
@pytest.mark.runbook("incident-3/investigation-1", "incident-3/investigation-2")
def test_signing_key_is_published_in_jwks(signing_key, jwks):
    """The private key in secret jwt-keys has its public half published in the JWKS.

    Runbook, Incident 3, investigation 1-2: the jwt-keys secret and the JWKS endpoint.
    """
    published = {t[:12]: k.get("kid") for t, k in jwks.thumbprints.items()}
    assert signing_key.thumbprint in jwks.thumbprints, (
        f"signing key of secret {signing_key.secret} (thumbprint {signing_key.thumbprint[:12]}…) is not among the "
        f"{len(jwks.keys)} keys published at {jwks.url}: "
        + (", ".join(f"kid={kid} (thumbprint {t}…)" for t, kid in published.items()) or "none")
        + ("; the pods still serve the previous key set" if published else "")
    )


@pytest.mark.remediation("oauth.restart-pods")
@pytest.mark.runbook("incident-3/resolution-1")
def test_token_signed_with_secret_key_verifies_against_jwks(env, signing_key, jwks):
    """A token signed with the private key in jwt-keys verifies against the published JWKS.

    Runbook, Incident 3, resolution 1: verify key rotation did not break validation.
    """
    failure = signing_key.verify_against(jwks, issuer=env.oauth.issuer, audience=env.oauth.audience)
    assert failure is None, (
        f"a token signed with the key of secret {signing_key.secret} (thumbprint {signing_key.thumbprint[:12]}…) "
        f"does not verify against {jwks.url}: {failure}"
    )


@pytest.mark.remediation("oauth.restart-pods")
@pytest.mark.runbook("incident-3/resolution-1")
def test_app_accepts_token_signed_with_current_key(probe_response):
    """The app accepts a token signed with the key in secret jwt-keys (no 401 for valid tokens).

    Runbook, Incident 3, symptoms: mass 401 Unauthorized; the probe URL is the app's own check.
    """
    assert probe_response.status == 200, (
        f"{probe_response.url} answered {probe_response.status} to a token signed with the current key "
        f"in secret jwt-keys, expected 200: {probe_response.detail}"
    )


@pytest.mark.outage
@pytest.mark.remediation("oauth.restore-revocation-store")
@pytest.mark.runbook("incident-3/investigation-3", "outage/investigation-4")
def test_revocation_store_answers_ping(redis_ping):
    """The token revocation store (Redis) answers PING.

    Runbook, Incident 3, investigation 3 (redis-cli) and Complete System Outage: redis-cli ping.
    """
    assert redis_ping.problem is None, f"Redis {redis_ping.url} did not answer PING: {redis_ping.problem}"


@pytest.mark.remediation("oauth.flush-token-cache")
@pytest.mark.runbook("incident-3/investigation-3")
def test_revocation_list_is_within_limit(env, revocation_count):
    """The revocation list holds no more keys than the limit, and its entries expire.

    Runbook, Incident 3, investigation 3: KEYS token:* / DBSIZE, done as a bounded SCAN.
    """
    found = f"{revocation_count.keys}{'' if revocation_count.complete else '+'}"
    assert revocation_count.keys <= env.redis.max_revocation_keys, (
        f"{found} keys match {revocation_count.pattern} at {revocation_count.url}, "
        f"above {env.cite('redis.max_revocation_keys')}"
    )
    assert revocation_count.without_ttl == 0, (
        f"{revocation_count.without_ttl} of {revocation_count.sampled} sampled {revocation_count.pattern} keys at "
        f"{revocation_count.url} never expire (TTL -1); revocation entries must expire with the token"
    )


@pytest.mark.remediation("oauth.verify-key-pair")
@pytest.mark.runbook("incident-3/investigation-4")
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
