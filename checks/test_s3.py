"""Incident 4: S3 Upload Failures (video uploads failing, 403 Forbidden from S3, upload timeouts).

Investigation: the bucket and its policy, the app's IAM role and how the service account is bound
to it, the KMS key, and an upload from the app's identity (the canary, the suite's only write).
Prevention: CloudWatch alarms on the bucket's S3 errors (``-m "s3 and not prevention"`` leaves them out).
"""

import pytest

pytestmark = [pytest.mark.s3]


@pytest.mark.runbook("incident-4/investigation-1")
@pytest.mark.remediation("s3.check-bucket")
def test_bucket_exists_in_the_expected_region(env, bucket):
    """The media bucket answers HeadBucket, in the configured region.

    Runbook, Incident 4, investigation 1: aws s3api get-bucket-policy --bucket ytvideocreator-media.
    """
    assert bucket.exists, f"bucket s3://{bucket.name} {bucket.problem} (aws.bucket in {env.display_path})"
    assert bucket.region == env.aws.region, (
        f"bucket s3://{bucket.name} is in region {bucket.region}, expected {env.cite('aws.region')}"
    )


@pytest.mark.runbook("incident-4/investigation-1", "incident-4/resolution-2")
@pytest.mark.remediation("s3.fix-bucket-policy")
def test_bucket_policy_lets_the_app_role_upload(upload_decision, observed):
    """No statement of the bucket policy denies the app's role s3:PutObject under the upload prefix.

    Runbook, Incident 4, resolution 2: check the S3 bucket policy; ensure the upload policy allows PutObject.
    """
    decision = upload_decision.bucket
    observed(statement=decision.statement or "(none)")
    assert not decision.denied_explicitly, (
        f"the bucket policy does not let role {upload_decision.role_arn} s3:PutObject on "
        f"{upload_decision.resource}: {decision.explain()} (explicit Deny beats any Allow); "
        f"{upload_decision.simulator}"
    )


@pytest.mark.runbook("incident-4/resolution-1")
@pytest.mark.remediation("s3.fix-role-policy")
def test_role_policy_grants_put_object_on_the_bucket(env, app_role, upload_request, role_upload):
    """The app's IAM role exists and its policy S3Access grants s3:PutObject under the upload prefix.

    Runbook, Incident 4, resolution 1: aws iam get-role-policy --role-name eks-app-backend-role --policy-name S3Access.
    """
    assert app_role.arn is not None, f"IAM role {app_role.name} does not exist (aws.role_name in {env.display_path})"
    assert role_upload is not None, (
        f"role {app_role.arn} has no inline policy {app_role.policy_name} "
        f"(aws.role_policy_name in {env.display_path}); without it the app may not upload"
    )
    assert role_upload.allowed, (
        f"policy {app_role.policy_name} of role {app_role.arn} does not grant s3:PutObject on "
        f"{upload_request.resource}: {role_upload.explain()}"
    )


@pytest.mark.runbook("incident-4/investigation-2", "incident-4/resolution-1")
@pytest.mark.remediation("s3.fix-trust-policy")
def test_role_trust_policy_lets_the_service_account_assume_it(env, trust_decision, observed):
    """The role's trust policy lets the cluster's OIDC provider assume it for the app's service account.

    Runbook, Incident 4, investigation 2: check the IAM role of service account app-backend (IRSA).
    """
    observed(service_account=env.s3.service_account)
    assert trust_decision.allowed, (
        f"the trust policy of role {env.aws.role_name} does not let {trust_decision.subject} "
        f"sts:AssumeRoleWithWebIdentity: {trust_decision.explain()}"
    )


@pytest.mark.runbook("incident-4/investigation-2")
@pytest.mark.remediation("s3.bind-service-account")
def test_service_account_carries_the_role_arn(app_role, service_account, observed):
    """The app's service account is annotated eks.amazonaws.com/role-arn with the app's role.

    Runbook, Incident 4, investigation 2: kubectl describe serviceaccount app-backend -n production.
    """
    observed(service_account=service_account.name.partition("/")[2])
    assert service_account.exists, f"service account {service_account.name} does not exist"
    assert service_account.role_arn == app_role.arn, (
        f"service account {service_account.name} has eks.amazonaws.com/role-arn "
        f"{service_account.role_arn or '(none)'}, expected {app_role.arn or app_role.name + ' (which does not exist)'}; "
        "its pods get no (or another) role's credentials"
    )


@pytest.mark.runbook("incident-4/investigation-4")
@pytest.mark.remediation("s3.fix-kms-key")
def test_kms_key_is_enabled(kms_key):
    """The bucket's KMS key is Enabled (not Disabled, not pending deletion).

    Runbook, Incident 4, investigation 4: aws kms describe-key --key-id <key-id>.
    """
    when = f", deletion scheduled for {kms_key.deletion_date:%Y-%m-%d %H:%M UTC}" if kms_key.deletion_date else ""
    assert kms_key.state == "Enabled", (
        f"KMS key {kms_key.arn} is {kms_key.state}{when}, expected Enabled; "
        "every SSE-KMS upload and download with it fails"
    )


@pytest.mark.runbook("incident-4/resolution-3")
@pytest.mark.remediation("s3.fix-kms-key-policy")
def test_kms_key_policy_lets_the_role_use_the_key(app_role, kms_key, key_use):
    """The key policy (or IAM, where it delegates) lets the role kms:GenerateDataKey and kms:Decrypt via S3.

    Runbook, Incident 4, resolution 3: verify the key policy allows encrypt/decrypt.
    """
    refused = {action: d.explain() for action, d in key_use.items() if not d.allowed}
    assert not refused, f"KMS key {kms_key.arn} does not let role {app_role.arn} " + "; ".join(
        f"{action}: {why}" for action, why in refused.items())


@pytest.mark.runbook("incident-4/investigation-3", "incident-4/resolution-4", "incident-4/prevention-3")
@pytest.mark.remediation("s3.retry-uploads")
def test_canary_upload_round_trip_succeeds_within_budget(env, canary):
    """A canary object makes the round trip PutObject (SSE-KMS) → HeadObject → GetObject → DeleteObject,
    each within the latency budget.

    Runbook, Incident 4, investigation 3: test S3 access from the pod (as the app's role when allowed).
    """
    assert canary.problem is None, f"canary s3://{env.aws.bucket}/{canary.key} as {canary.who}: {canary.problem}"
    assert "DeleteObject failed" not in canary.steps, (
        f"canary s3://{env.aws.bucket}/{canary.key} as {canary.who} was not deleted; the next run removes it")
    budget = env.s3.latency_budget_ms
    slow = {step: ms for step, ms in canary.steps.items() if ms > budget}
    assert not slow, f"canary s3://{env.aws.bucket}/{canary.key} as {canary.who}: " + ", ".join(
        f"{step} took {ms:.0f} ms" for step, ms in slow.items()) + f", above {env.cite('s3.latency_budget_ms')}"


@pytest.mark.prevention
@pytest.mark.runbook("incident-4/prevention-1", "incident-4/prevention-2")
@pytest.mark.remediation("s3.add-error-alarms")
def test_s3_error_alarm_is_set_and_not_firing(s3_alarms):
    """A CloudWatch alarm watches the bucket's 4xxErrors or 5xxErrors, and none is in ALARM.

    Runbook, Incident 4, prevention: set up CloudWatch alarms for S3 errors; monitor upload success.
    """
    assert s3_alarms.alarms, (
        f"no CloudWatch alarm on AWS/S3 4xxErrors or 5xxErrors with BucketName={s3_alarms.bucket}; "
        "upload failures go unnoticed until users report them"
    )
    firing = {name: metric for name, (metric, state) in s3_alarms.alarms.items() if state == "ALARM"}
    assert not firing, f"S3 error alarm(s) of bucket {s3_alarms.bucket} in ALARM: " + ", ".join(
        f"{name} ({metric})" for name, metric in firing.items())
