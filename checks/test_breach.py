"""Emergency: Data Breach Detected. The posture that limits a breach, checked before one happens.

Investigation: find the attack vector (a public bucket, data at rest unencrypted, an open Redis) and
what stops the damage (token revocation works, versioning keeps what was overwritten). The JWKS
private-material check lives with the OAuth checks (checks/test_oauth.py, marked breach too).
"""

import pytest

from core.policy import public_statements

pytestmark = [pytest.mark.breach]


@pytest.mark.runbook("breach/investigation-3", "breach/immediate-1")
@pytest.mark.remediation("breach.block-public-access")
def test_bucket_blocks_public_access(bucket_posture):
    """Block Public Access is on for the bucket (all four settings), or for the whole account.

    Runbook, Data Breach Detected, investigation: find the attack vector; contain.
    """
    account = bucket_posture.account_block_public_access or {}
    settings = bucket_posture.block_public_access or {}
    off = [name for name in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
           if not settings.get(name) and not account.get(name)]
    account_note = (f" (account settings not read: {bucket_posture.account_note})"
                    if bucket_posture.account_note else "")
    assert not off, (
        f"bucket s3://{bucket_posture.bucket} Block Public Access "
        + ("is not configured" if bucket_posture.block_public_access is None else "has " + ", ".join(
            f"{name}=false" for name in off))
        + f", and the account does not block it either{account_note}"
    )


@pytest.mark.runbook("breach/investigation-3", "breach/immediate-1")
@pytest.mark.remediation("breach.block-public-access")
def test_bucket_policy_grants_nothing_to_anonymous_principals(bucket):
    """No bucket policy statement allows Principal "*" without a condition that restricts the caller.

    Runbook, Data Breach Detected, investigation: find the attack vector (a public bucket policy).
    """
    public = public_statements(bucket.policy)
    assert not public, (
        f"bucket policy of s3://{bucket.name} allows anyone on the internet by statement(s) "
        + ", ".join(public) + " (Principal * with no aws:SourceVpce/aws:SourceIp/aws:PrincipalOrgID-style condition)"
    )


@pytest.mark.runbook("breach/investigation-3", "breach/immediate-1")
@pytest.mark.remediation("breach.block-public-access")
def test_bucket_acl_grants_nothing_public(bucket_posture):
    """The bucket ACL grants nothing to AllUsers or AuthenticatedUsers.

    Runbook, Data Breach Detected, investigation: find the attack vector (a public ACL).
    """
    assert not bucket_posture.public_grants, (
        f"bucket ACL of s3://{bucket_posture.bucket} grants " + ", ".join(bucket_posture.public_grants)
    )


@pytest.mark.runbook("breach/remediation-1", "breach/investigation-2")
@pytest.mark.remediation("breach.enable-encryption")
def test_bucket_default_encryption_is_kms_with_the_configured_key(env, bucket_posture, kms_key):
    """The bucket's default encryption is SSE-KMS (aws:kms) with the configured KMS key.

    Runbook, Data Breach Detected, remediation: patch vulnerabilities (data at rest unencrypted).
    """
    rule = bucket_posture.encryption
    assert rule is not None, f"bucket s3://{bucket_posture.bucket} has no default encryption"
    names = {kms_key.arn, kms_key.arn.rpartition("/")[2], kms_key.key_id}
    assert rule.get("SSEAlgorithm") == "aws:kms" and rule.get("KMSMasterKeyID") in names, (
        f"bucket s3://{bucket_posture.bucket} encrypts by default with {rule.get('SSEAlgorithm')} "
        f"key {rule.get('KMSMasterKeyID') or '(S3-managed)'}, expected aws:kms with {env.cite('aws.kms_key_id')} "
        f"({kms_key.arn})"
    )


@pytest.mark.runbook("breach/immediate-3", "breach/investigation-2")
@pytest.mark.remediation("breach.enable-versioning")
def test_bucket_versioning_is_enabled(bucket_posture):
    """Versioning is Enabled on the bucket, so overwritten or deleted objects can be recovered.

    Runbook, Data Breach Detected, immediate action: preserve (and recover after a bad write).
    """
    assert bucket_posture.versioning == "Enabled", (
        f"bucket s3://{bucket_posture.bucket} versioning is {bucket_posture.versioning}, expected Enabled; "
        "an attacker's overwrite or delete cannot be undone"
    )


@pytest.mark.runbook("breach/remediation-3")
@pytest.mark.remediation("breach.revoke-tokens")
def test_revoked_token_is_refused_by_the_api(revoked_token_probe):
    """The API refuses (401) a token whose id is in the revocation list, even when its signature is valid.

    Runbook, Data Breach Detected, remediation: revoke compromised tokens (revocation must work).
    """
    assert revoked_token_probe.status in (401, 403), (
        f"{revoked_token_probe.url} answered {revoked_token_probe.status} to a validly signed token whose jti "
        f"{revoked_token_probe.jti} is revoked, expected 401: {revoked_token_probe.detail}"
    )


@pytest.mark.runbook("breach/investigation-3", "breach/remediation-1")
@pytest.mark.remediation("breach.protect-redis")
def test_redis_refuses_unauthenticated_commands(redis_without_password):
    """The revocation store refuses commands from a connection without credentials (NOAUTH).

    Runbook, Data Breach Detected, investigation: find the attack vector (an open Redis).
    """
    assert redis_without_password.refused, (
        f"Redis {redis_without_password.url} answered {redis_without_password.answer} to PING without any "
        "password: anyone who reaches it can read or erase the revocation list"
    )
