"""Drills: one runbook incident injected into the sandbox, and what the suite must then report.

``pytest -m oauth --drill oauth-key-mismatch`` starts the sandbox, applies the drill, and runs the
checks. Each drill declares the checks it must fail (or leave unverifiable) and the remediation the
suite must suggest; the project's tests hold the suite to exactly that, and on-call engineers use
drills to rehearse (``python -m sandbox drills`` lists them).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from sandbox.stack import Sandbox

__all__ = ["DRILLS", "Drill"]


@dataclass(frozen=True)
class Drill:
    name: str
    incident: str  # the marker whose checks rehearse it
    summary: str
    apply: Callable[["Sandbox"], None]
    fails: frozenset[str]  # checks that must FAIL
    errors: frozenset[str] = frozenset()  # checks that must ERROR (could not verify)
    remediations: frozenset[str] = frozenset()  # ids the suite must suggest


def _rotate_secret_without_restart(sandbox: "Sandbox") -> None:
    from sandbox.stack import generate_key_pair, jwt_keys_secret

    sandbox.kube.store.apply(jwt_keys_secret(*generate_key_pair()))


def _jwks_fault(fault: str) -> Callable[["Sandbox"], None]:
    def apply(sandbox: "Sandbox") -> None:
        sandbox.app.jwks_fault = fault

    return apply


def _stop_redis(sandbox: "Sandbox") -> None:
    sandbox.redis.stop()


def _secret_without_public_field(sandbox: "Sandbox") -> None:
    secret = sandbox.kube.store.get("v1", "Secret", "production", "jwt-keys")
    secret["data"].pop("public")
    sandbox.kube.store.apply(secret)


def _secret_with_foreign_public_key(sandbox: "Sandbox") -> None:
    from sandbox.stack import generate_key_pair

    secret = sandbox.kube.store.get("v1", "Secret", "production", "jwt-keys")
    secret["data"]["public"] = base64.b64encode(generate_key_pair()[1].encode()).decode()
    sandbox.kube.store.apply(secret)


def _revocations_without_ttl(sandbox: "Sandbox") -> None:
    import redis

    with redis.Redis.from_url(sandbox.redis.url) as client:
        client.mset({f"token:stale-{i}": "revoked" for i in range(25)})


def _token_error_burst(sandbox: "Sandbox") -> None:
    """Clients keep presenting tokens the app rejects: each 401 is a log line, spread over the pods
    (30 each, above the default oauth.max_token_errors_in_logs = 20)."""
    import httpx

    with httpx.Client(timeout=5) as client:
        for _ in range(30 * len(sandbox.app.pods)):
            client.get(f"{sandbox.app.url}/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"})


_JWKS_BLOCKED = frozenset({
    "test_jwks_publishes_at_least_one_signing_key",
    "test_jwks_keys_are_well_formed",
    "test_jwks_publishes_no_private_key_material",
    "test_signing_key_is_published_in_jwks",
    "test_token_signed_with_secret_key_verifies_against_jwks",
})  # the app itself still validates with the keys it loaded: test_app_accepts_… passes

DRILLS: dict[str, Drill] = {d.name: d for d in [
    Drill("oauth-key-mismatch", "oauth",
          "secret jwt-keys was rotated, the pods still serve the old JWKS (no restart)",
          _rotate_secret_without_restart,
          fails=frozenset({"test_signing_key_is_published_in_jwks",
                           "test_token_signed_with_secret_key_verifies_against_jwks",
                           "test_app_accepts_token_signed_with_current_key"}),
          remediations=frozenset({"oauth.restart-pods"})),
    Drill("oauth-jwks-down", "oauth", "the JWKS endpoint answers 503",
          _jwks_fault("5xx"),
          fails=frozenset({"test_jwks_endpoint_serves_json"}), errors=_JWKS_BLOCKED,
          remediations=frozenset({"oauth.fix-jwks-endpoint"})),
    Drill("oauth-jwks-malformed", "oauth", "the JWKS endpoint answers 200 with invalid JSON",
          _jwks_fault("malformed"),
          fails=frozenset({"test_jwks_endpoint_serves_json"}), errors=_JWKS_BLOCKED,
          remediations=frozenset({"oauth.fix-jwks-endpoint"})),
    Drill("oauth-jwks-empty", "oauth", 'the JWKS endpoint answers {"keys": []}',
          _jwks_fault("empty"),
          fails=frozenset({"test_jwks_publishes_at_least_one_signing_key",
                           "test_signing_key_is_published_in_jwks",
                           "test_token_signed_with_secret_key_verifies_against_jwks"}),
          remediations=frozenset({"oauth.fix-jwks-endpoint", "oauth.restart-pods"})),
    Drill("oauth-jwks-slow", "oauth", "the JWKS endpoint takes longer than the latency budget",
          _jwks_fault("slow"),
          fails=frozenset({"test_jwks_endpoint_answers_within_latency_budget"}),
          remediations=frozenset({"oauth.fix-jwks-endpoint"})),
    Drill("oauth-jwks-weak-key", "oauth",
          "a rotation published an extra 1024-bit key without kid, alg or use",
          _jwks_fault("weak-key"),
          fails=frozenset({"test_jwks_keys_are_well_formed"}),
          remediations=frozenset({"oauth.fix-jwks-endpoint"})),
    Drill("breach-jwks-private-key", "breach",
          "the JWKS endpoint publishes the private key members (d, p, q, ...)",
          _jwks_fault("private-members"),
          fails=frozenset({"test_jwks_publishes_no_private_key_material"}),
          remediations=frozenset({"breach.rotate-signing-keys"})),
    Drill("oauth-secret-incomplete", "oauth", "secret jwt-keys lost its public field",
          _secret_without_public_field,
          fails=frozenset({"test_jwt_keys_secret_holds_a_key_pair",
                           "test_secret_private_key_matches_secret_public_key"}),
          remediations=frozenset({"oauth.regenerate-keys", "oauth.verify-key-pair"})),
    Drill("oauth-secret-mismatched-pair", "oauth",
          "the public key in secret jwt-keys belongs to another key pair",
          _secret_with_foreign_public_key,
          fails=frozenset({"test_secret_private_key_matches_secret_public_key"}),
          remediations=frozenset({"oauth.verify-key-pair"})),
    Drill("oauth-revocation-down", "oauth", "the token revocation store (Redis) is unreachable",
          _stop_redis,
          fails=frozenset({"test_revocation_store_answers_ping"}),
          errors=frozenset({"test_revocation_list_is_within_limit",
                            "test_app_accepts_token_signed_with_current_key"}),
          remediations=frozenset({"oauth.restore-revocation-store"})),
    Drill("oauth-revocation-no-ttl", "oauth", "revocation entries were written without a TTL",
          _revocations_without_ttl,
          fails=frozenset({"test_revocation_list_is_within_limit"}),
          remediations=frozenset({"oauth.flush-token-cache"})),
    Drill("oauth-token-errors", "oauth", "clients present tokens the app rejects, a burst of 401s in the logs",
          _token_error_burst,
          fails=frozenset({"test_pod_logs_show_no_token_error_burst"}),
          remediations=frozenset({"oauth.verify-key-pair"})),
]}
