"""Drills for the emergency procedure Data Breach Detected."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sandbox.drills import Drill, node_ids

if TYPE_CHECKING:
    from sandbox.faults import Faults

_breach = node_ids("test_breach.py")
_oauth = node_ids("test_oauth.py")

__all__ = ["DRILLS"]


def _jwks_leaks_private_members(faults: "Faults") -> None:
    faults.jwks("private-members")


PUBLIC_SID = "PublicRead"


def _bucket_public(faults: "Faults") -> None:
    """Block Public Access removed, then a public-read ACL and an anonymous GetObject statement."""
    bucket, s3 = faults.aws_names.bucket, faults.aws("s3")
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    policy["Statement"].append({"Sid": PUBLIC_SID, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": f"arn:aws:s3:::{bucket}/*"})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


def _encryption_off(faults: "Faults") -> None:
    faults.aws("s3").delete_bucket_encryption(Bucket=faults.aws_names.bucket)


def _versioning_suspended(faults: "Faults") -> None:
    faults.aws("s3").put_bucket_versioning(Bucket=faults.aws_names.bucket,
                                           VersioningConfiguration={"Status": "Suspended"})


DRILLS = [
    Drill("breach-jwks-private-key", "breach",
          "the JWKS endpoint publishes the private key members (d, p, q, ...)",
          _jwks_leaks_private_members,
          fails=_oauth("test_jwks_publishes_no_private_key_material"),
          remediations=frozenset({"breach.rotate-signing-keys"})),
    Drill("breach-bucket-public", "breach",
          f"Block Public Access removed, a public-read ACL and an anonymous statement ({PUBLIC_SID}) on the bucket",
          _bucket_public,
          fails=_breach("test_bucket_blocks_public_access", "test_bucket_policy_grants_nothing_to_anonymous_principals", "test_bucket_acl_grants_nothing_public"),
          remediations=frozenset({"breach.block-public-access"})),
    Drill("breach-encryption-off", "breach", "the bucket's default encryption was removed",
          _encryption_off,
          fails=_breach("test_bucket_default_encryption_is_kms_with_the_configured_key"),
          remediations=frozenset({"breach.enable-encryption"})),
    Drill("breach-versioning-suspended", "breach", "versioning was suspended on the bucket",
          _versioning_suspended,
          fails=_breach("test_bucket_versioning_is_enabled"),
          remediations=frozenset({"breach.enable-versioning"})),
    Drill("breach-redis-open", "breach", "the revocation store's password was removed (requirepass \"\")",
          lambda faults: faults.redis_open(),
          fails=_breach("test_redis_refuses_unauthenticated_commands"),
          # The suite's own AUTH is refused too ("called without any password configured"): it
          # cannot read the revocation list, as against a real Redis whose password was dropped.
          errors=_breach("test_revoked_token_is_refused_by_the_api"),
          remediations=frozenset({"breach.protect-redis"})),
    Drill("breach-revocation-ignored", "breach", "an app build accepts revoked tokens",
          lambda faults: faults.app_ignores_revocations(),
          fails=_breach("test_revoked_token_is_refused_by_the_api"),
          remediations=frozenset({"breach.revoke-tokens"})),
]
