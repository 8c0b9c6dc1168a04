"""Drills for Incident 4: S3 Upload Failures, each a real misconfiguration made through the AWS API
(or the Kubernetes API) as an engineer or a bad deploy would make it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sandbox.drills import Drill

if TYPE_CHECKING:
    from sandbox.faults import Faults

__all__ = ["DRILLS", "DENY_SID"]

DENY_SID = "DenyUploadsDuringMigration"
_CANARY = "test_s3.py::test_canary_upload_round_trip_succeeds_within_budget"


def _policy_denies_put(faults: "Faults") -> None:
    names, s3 = faults.aws_names, faults.aws("s3")
    policy = json.loads(s3.get_bucket_policy(Bucket=names.bucket)["Policy"])
    policy["Statement"].append({"Sid": DENY_SID, "Effect": "Deny", "Principal": {"AWS": names.role_arn},
                                "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{names.bucket}/*"})
    s3.put_bucket_policy(Bucket=names.bucket, Policy=json.dumps(policy))


def _role_policy_missing(faults: "Faults") -> None:
    names = faults.aws_names
    faults.aws("iam").delete_role_policy(RoleName=names.role_name, PolicyName=names.role_policy_name)


def _kms_disabled(faults: "Faults") -> None:
    faults.aws("kms").disable_key(KeyId=faults.aws_names.kms_key_id)


def _kms_pending_deletion(faults: "Faults") -> None:
    faults.aws("kms").schedule_key_deletion(KeyId=faults.aws_names.kms_key_id, PendingWindowInDays=7)


def _service_account_unbound(faults: "Faults") -> None:
    faults.kube_patch("ServiceAccount", "app-backend",
                      {"metadata": {"annotations": {"eks.amazonaws.com/role-arn": None}}})


def _alarm_missing(faults: "Faults") -> None:
    faults.aws("cloudwatch").delete_alarms(AlarmNames=faults.aws_names.alarm_names)


def _bucket_deleted(faults: "Faults") -> None:
    names, s3 = faults.aws_names, faults.aws("s3")
    s3.delete_bucket_policy(Bucket=names.bucket)
    s3.delete_bucket(Bucket=names.bucket)


def _trust_for_another_service_account(faults: "Faults") -> None:
    names, iam = faults.aws_names, faults.aws("iam")
    trust = iam.get_role(RoleName=names.role_name)["Role"]["AssumeRolePolicyDocument"]
    for statement in trust["Statement"]:
        for key in (statement.get("Condition") or {}).get("StringEquals", {}):
            if key.endswith(":sub"):
                statement["Condition"]["StringEquals"][key] = "system:serviceaccount:production:app-worker"
    iam.update_assume_role_policy(RoleName=names.role_name, PolicyDocument=json.dumps(trust))


def _key_policy_without_the_app(faults: "Faults") -> None:
    """The key policy replaced by one for key administrators only (no IAM delegation, no app role)."""
    names = faults.aws_names
    account = names.role_arn.split(":")[4]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "KeyAdministrators", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account}:role/kms-administrators"},
         "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:Put*", "kms:Enable*", "kms:Disable*",
                    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"], "Resource": "*"}]}
    faults.aws("kms").put_key_policy(KeyId=names.kms_key_id, PolicyName="default", Policy=json.dumps(policy))


DRILLS = [
    Drill("s3-bucket-deleted", "s3", "the media bucket was deleted",
          _bucket_deleted,
          fails=frozenset({"test_s3.py::test_bucket_exists_in_the_expected_region"}),
          errors=frozenset({"test_s3.py::test_bucket_policy_lets_the_app_role_upload", _CANARY,
                            "test_s3.py::test_kms_key_policy_lets_the_role_use_the_key"}),
          remediations=frozenset({"s3.check-bucket"})),
    Drill("s3-trust-policy-wrong-subject", "s3",
          "the role's trust policy names another service account (app-worker)",
          _trust_for_another_service_account,
          fails=frozenset({"test_s3.py::test_role_trust_policy_lets_the_service_account_assume_it"}),
          remediations=frozenset({"s3.fix-trust-policy"})),
    Drill("s3-key-policy-without-app", "s3",
          "the KMS key policy was replaced by one for key administrators only",
          _key_policy_without_the_app,
          fails=frozenset({"test_s3.py::test_kms_key_policy_lets_the_role_use_the_key"}),
          remediations=frozenset({"s3.fix-kms-key-policy"})),
    Drill("s3-policy-denies-put", "s3",
          f"a bucket policy statement ({DENY_SID}) denies the app role s3:PutObject",
          _policy_denies_put,
          fails=frozenset({"test_s3.py::test_bucket_policy_lets_the_app_role_upload", _CANARY}),
          remediations=frozenset({"s3.fix-bucket-policy", "s3.retry-uploads"})),
    Drill("s3-role-policy-missing", "s3", "the app role lost its inline policy S3Access",
          _role_policy_missing,
          fails=frozenset({"test_s3.py::test_role_policy_grants_put_object_on_the_bucket"}),
          remediations=frozenset({"s3.fix-role-policy"})),
    Drill("s3-kms-disabled", "s3", "the bucket's KMS key was disabled",
          _kms_disabled,
          fails=frozenset({"test_s3.py::test_kms_key_is_enabled", _CANARY}),
          remediations=frozenset({"s3.fix-kms-key", "s3.retry-uploads"})),
    Drill("s3-kms-pending-deletion", "s3", "the bucket's KMS key is scheduled for deletion",
          _kms_pending_deletion,
          fails=frozenset({"test_s3.py::test_kms_key_is_enabled", _CANARY}),
          remediations=frozenset({"s3.fix-kms-key", "s3.retry-uploads"})),
    Drill("s3-service-account-unbound", "s3",
          "service account app-backend lost its eks.amazonaws.com/role-arn annotation",
          _service_account_unbound,
          fails=frozenset({"test_s3.py::test_service_account_carries_the_role_arn"}),
          remediations=frozenset({"s3.bind-service-account"})),
    Drill("s3-alarm-missing", "s3", "the CloudWatch alarms on the bucket's S3 errors were deleted",
          _alarm_missing,
          fails=frozenset({"test_s3.py::test_s3_error_alarm_is_set_and_not_firing"}),
          remediations=frozenset({"s3.add-error-alarms"})),
]
