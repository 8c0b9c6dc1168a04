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


DRILLS = [
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
