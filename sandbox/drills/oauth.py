"""Drills for Incident 3: OAuth Token Validation Failing."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Callable

from sandbox.drills import Drill, node_ids

if TYPE_CHECKING:
    from sandbox.faults import Faults

__all__ = ["DRILLS"]



_checks = node_ids("test_oauth.py")


def _jwks_fault(fault: str) -> Callable[["Faults"], None]:
    def apply(faults: "Faults") -> None:
        faults.jwks(fault)

    return apply


def _rotate_secret_without_restart(faults: "Faults") -> None:
    faults.rotate_jwt_keys()


def _stop_redis(faults: "Faults") -> None:
    faults.stop("redis")


def _secret_without_public_field(faults: "Faults") -> None:
    secret = faults.kube_get("Secret", "jwt-keys")
    secret["data"].pop("public")
    faults.kube_apply(secret)


def _secret_with_foreign_public_key(faults: "Faults") -> None:
    from sandbox.stack import generate_key_pair

    public = base64.b64encode(generate_key_pair()[1].encode()).decode()
    faults.kube_patch("Secret", "jwt-keys", {"data": {"public": public}})


def _revocations_without_ttl(faults: "Faults") -> None:
    with faults.redis() as client:
        client.mset({f"token:stale-{i}": "revoked" for i in range(25)})


def _revocation_flood(faults: "Faults") -> None:
    """A client revokes tokens in a loop: one entry more than the sandbox's max_revocation_keys
    (10,000), each with the token's TTL."""
    from sandbox.stack import SANDBOX_MAX_REVOCATION_KEYS

    with faults.redis() as client, client.pipeline(transaction=False) as pipe:
        for i in range(SANDBOX_MAX_REVOCATION_KEYS + 1):
            pipe.set(f"token:flood-{i}", "revoked", ex=900)
        pipe.execute()


def _token_error_burst(faults: "Faults") -> None:
    """Clients keep presenting tokens the app rejects: each 401 is a log line, spread over the pods
    (30 each, above the default oauth.max_token_errors_in_logs = 20)."""
    faults.app_get("/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"}, times=30 * len(faults.app_pods))


JWKS_BLOCKED = _checks(
    "test_jwks_cache_lifetime_lets_clients_see_a_rotation",
    "test_jwks_publishes_at_least_one_signing_key",
    "test_jwks_keys_use_the_encoding_the_rfcs_require",
    "test_jwks_certificates_hold_the_published_keys",
    "test_jwks_keys_are_well_formed",
    "test_jwks_publishes_no_private_key_material",
    "test_signing_key_is_published_in_jwks",
    "test_token_signed_with_secret_key_verifies_against_jwks",
)  # the app itself still validates with the keys it loaded: test_app_accepts_… passes

DRILLS = [
    Drill("oauth-key-mismatch", "oauth",
          "secret jwt-keys was rotated, the pods still serve the old JWKS (no restart)",
          _rotate_secret_without_restart,
          fails=_checks("test_signing_key_is_published_in_jwks",
                        "test_token_signed_with_secret_key_verifies_against_jwks",
                        "test_app_accepts_token_signed_with_current_key"),
          remediations=frozenset({"oauth.restart-pods"})),
    Drill("oauth-jwks-down", "oauth", "the JWKS endpoint answers 503",
          _jwks_fault("5xx"),
          fails=_checks("test_jwks_endpoint_serves_json"), errors=JWKS_BLOCKED,
          remediations=frozenset({"oauth.fix-jwks-endpoint"})),
    Drill("oauth-jwks-malformed", "oauth", "the JWKS endpoint answers 200 with invalid JSON",
          _jwks_fault("malformed"),
          fails=_checks("test_jwks_endpoint_serves_json"), errors=JWKS_BLOCKED,
          remediations=frozenset({"oauth.fix-jwks-endpoint"})),
    Drill("oauth-jwks-empty", "oauth", 'the JWKS endpoint answers {"keys": []}',
          _jwks_fault("empty"),
          fails=_checks("test_jwks_publishes_at_least_one_signing_key",
                        "test_signing_key_is_published_in_jwks",
                        "test_token_signed_with_secret_key_verifies_against_jwks"),
          remediations=frozenset({"oauth.fix-jwks-endpoint", "oauth.restart-pods"})),
    Drill("oauth-jwks-slow", "oauth", "the JWKS endpoint takes longer than the latency budget",
          _jwks_fault("slow"),
          fails=_checks("test_jwks_endpoint_answers_within_latency_budget"),
          remediations=frozenset({"oauth.fix-jwks-endpoint"})),
    Drill("oauth-jwks-weak-key", "oauth",
          "a rotation published an extra 1024-bit key without kid, alg or use",
          _jwks_fault("weak-key"),
          fails=_checks("test_jwks_keys_are_well_formed"),
          remediations=frozenset({"oauth.fix-jwks-keys"})),
    Drill("oauth-jwks-redirect", "oauth",
          "the JWKS URL answers 301 to a new location (verifiers do not follow redirects)",
          _jwks_fault("redirect"),
          fails=_checks("test_jwks_endpoint_serves_json"), errors=JWKS_BLOCKED,
          remediations=frozenset({"oauth.fix-jwks-endpoint"})),
    Drill("oauth-jwks-cached-forever", "oauth",
          "the JWKS is served with Cache-Control: max-age=31536000, immutable",
          _jwks_fault("cached-forever"),
          fails=_checks("test_jwks_cache_lifetime_lets_clients_see_a_rotation"),
          remediations=frozenset({"oauth.fix-jwks-cache-lifetime"})),
    Drill("oauth-jwks-x5c-mismatch", "oauth",
          "the published key carries the x5c certificate of another key",
          _jwks_fault("x5c-mismatch"),
          fails=_checks("test_jwks_certificates_hold_the_published_keys"),
          remediations=frozenset({"oauth.fix-jwks-keys"})),
    Drill("oauth-jwks-leading-zero", "oauth",
          "the JWKS encoder puts a leading zero octet in the RSA modulus n (still the same key)",
          _jwks_fault("leading-zero"),
          fails=_checks("test_jwks_keys_use_the_encoding_the_rfcs_require"),
          remediations=frozenset({"oauth.fix-jwks-keys"})),
    Drill("oauth-secret-incomplete", "oauth", "secret jwt-keys lost its public field",
          _secret_without_public_field,
          fails=_checks("test_jwt_keys_secret_holds_a_key_pair",
                        "test_secret_private_key_matches_secret_public_key"),
          remediations=frozenset({"oauth.restore-jwt-keys", "oauth.verify-key-pair"})),
    Drill("oauth-secret-mismatched-pair", "oauth",
          "the public key in secret jwt-keys belongs to another key pair",
          _secret_with_foreign_public_key,
          fails=_checks("test_secret_private_key_matches_secret_public_key"),
          remediations=frozenset({"oauth.verify-key-pair"})),
    Drill("oauth-revocation-down", "oauth", "the token revocation store (Redis) is unreachable",
          _stop_redis,
          fails=_checks("test_revocation_store_answers_ping"),
          errors=_checks("test_revocation_list_is_within_limit", "test_revocation_entries_expire",
                         "test_app_accepts_token_signed_with_current_key"),
          remediations=frozenset({"oauth.restore-revocation-store"})),
    Drill("oauth-revocation-no-ttl", "oauth", "revocation entries were written without a TTL",
          _revocations_without_ttl,
          fails=_checks("test_revocation_entries_expire"),
          remediations=frozenset({"oauth.expire-revocation-entries"})),
    Drill("oauth-revocation-flood", "oauth", "the revocation list grew past its limit (a revocation loop)",
          _revocation_flood,
          fails=_checks("test_revocation_list_is_within_limit"),
          remediations=frozenset({"oauth.stop-revocation-flood"})),
    Drill("oauth-token-errors", "oauth", "clients present tokens the app rejects, a burst of 401s in the logs",
          _token_error_burst,
          fails=_checks("test_pod_logs_show_no_token_error_burst"),
          remediations=frozenset({"oauth.investigate-token-errors"})),
]
