"""The offline IAM policy evaluator: AWS's evaluation logic for one policy, case by case."""

from __future__ import annotations

import pytest

from core.policy import Request, evaluate, public_statements

ROLE = "arn:aws:iam::123456789012:role/eks-app-backend-role"
OBJECT = "arn:aws:s3:::ytvideocreator-media/uploads/video.mp4"
PUT = Request(ROLE, "s3:PutObject", OBJECT, account="123456789012",
              context={"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms"})


def allow(**extra):
    return {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::ytvideocreator-media/*", **extra}


def deny(**extra):
    return {**allow(**extra), "Effect": "Deny"}


def test_an_allow_naming_the_role_allows_and_says_which_statement():
    decision = evaluate([allow(Sid="Uploads")], PUT)
    assert decision.allowed and decision.statement == 'Sid "Uploads"' and not decision.delegated


def test_an_explicit_deny_beats_an_allow_whatever_the_order():
    for statements in ([allow(), deny(Sid="Freeze")], [deny(Sid="Freeze"), allow()]):
        decision = evaluate(statements, PUT)
        assert decision.denied_explicitly and decision.statement == 'Sid "Freeze"'
        assert "denied by statement Sid \"Freeze\"" in decision.explain()


def test_no_matching_statement_is_an_implicit_deny():
    decision = evaluate([allow(Resource="arn:aws:s3:::other-bucket/*")], PUT)
    assert decision.outcome == "implicitly denied"
    assert evaluate([], PUT).outcome == "implicitly denied"


def test_a_statement_without_sid_is_named_by_its_position():
    assert evaluate([allow(Sid="A"), deny()], PUT).statement == "number 2"


@pytest.mark.parametrize("action,applies", [
    ("s3:*", True), ("s3:Put*", True), ("S3:PUTOBJECT", True), ("*", True), ("s3:Put?bject", True),
    ("s3:Get*", False), ("s3:PutObjectAcl", False), ("iam:*", False),
])
def test_actions_match_with_wildcards_and_without_case(action, applies):
    assert evaluate([allow(Action=action)], PUT).allowed is applies


def test_resources_match_with_wildcards_and_with_case():
    assert evaluate([allow(Resource="arn:aws:s3:::ytvideocreator-media/uploads/*")], PUT).allowed
    assert not evaluate([allow(Resource="arn:aws:s3:::ytvideocreator-media/archive/*")], PUT).allowed
    assert not evaluate([allow(Resource="arn:aws:s3:::YTVIDEOCREATOR-MEDIA/*")], PUT).allowed


def test_not_action_applies_to_every_action_but_the_listed_ones():
    statement = deny(Sid="OnlyReads")
    del statement["Action"]
    assert evaluate([allow(), {**statement, "NotAction": ["s3:Get*", "s3:List*"]}], PUT).denied_explicitly
    assert evaluate([allow(), {**statement, "NotAction": "s3:Put*"}], PUT).allowed


def test_not_resource_applies_to_every_resource_but_the_listed_ones():
    statement = deny(Sid="OutsideUploads")
    del statement["Resource"]
    inside = {**statement, "NotResource": "arn:aws:s3:::ytvideocreator-media/uploads/*"}
    outside = {**statement, "NotResource": "arn:aws:s3:::ytvideocreator-media/archive/*"}
    assert evaluate([allow(), inside], PUT).allowed
    assert evaluate([allow(), outside], PUT).denied_explicitly


def test_a_deny_to_everyone_applies_to_the_role():
    assert evaluate([allow(), deny(Sid="All", Principal="*")], PUT).denied_explicitly
    assert evaluate([allow(), deny(Sid="All", Principal={"AWS": "*"})], PUT).denied_explicitly


def test_a_statement_for_another_principal_does_not_apply():
    other = {"AWS": "arn:aws:iam::123456789012:role/someone-else"}
    assert evaluate([allow(), deny(Principal=other)], PUT).allowed
    assert evaluate([allow(Principal=other)], PUT).outcome == "implicitly denied"


def test_an_allow_to_the_account_delegates_to_iam_and_says_so():
    for account in ("123456789012", "arn:aws:iam::123456789012:root"):
        decision = evaluate([allow(Principal={"AWS": account})], PUT)
        assert decision.allowed and decision.delegated
        assert "IAM policy must allow it too" in decision.explain()


def test_a_deny_to_the_account_applies_to_its_roles():
    assert evaluate([allow(), deny(Principal={"AWS": "123456789012"})], PUT).denied_explicitly


def test_not_principal_excludes_the_role_only_together_with_its_account():
    role_only = deny(Sid="AllButApp", Principal=None)
    del role_only["Principal"]
    assert evaluate([allow(), {**role_only, "NotPrincipal": {"AWS": ROLE}}], PUT).denied_explicitly
    excluded = {**role_only, "NotPrincipal": {"AWS": [ROLE, "arn:aws:iam::123456789012:root"]}}
    assert evaluate([allow(), excluded], PUT).allowed
    others = {**role_only, "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:role/admin"}}
    assert evaluate([allow(), others], PUT).denied_explicitly


def test_an_identity_policy_without_principal_applies_to_its_own_role():
    statement = allow()
    del statement["Principal"]
    assert evaluate([statement], PUT).allowed


@pytest.mark.parametrize("condition,denied", [
    ({"Bool": {"aws:SecureTransport": "false"}}, False),
    ({"Bool": {"aws:SecureTransport": False}}, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, True),
    ({"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}, False),
    ({"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}, True),
    ({"StringEquals": {"s3:x-amz-server-side-encryption": ["AES256", "aws:kms"]}}, True),
    ({"StringLike": {"s3:x-amz-server-side-encryption": "aws:*"}}, True),
    ({"Null": {"s3:x-amz-server-side-encryption": "true"}}, False),
    ({"Null": {"s3:x-amz-server-side-encryption": "false"}}, True),
    ({"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"s3:x-amz-server-side-encryption": "AES256"}}, False),
])
def test_conditions_on_keys_the_suite_knows_are_decided(condition, denied):
    decision = evaluate([allow(), deny(Sid="Conditional", Condition=condition)], PUT)
    assert decision.denied_explicitly is denied and decision.outcome != "undecided"


def test_a_deny_on_a_key_unknown_offline_is_undecided_and_names_statement_and_key():
    statement = deny(Sid="OnlyFromVpc", Condition={"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c"}})
    decision = evaluate([allow(), statement], PUT)
    assert decision.outcome == "undecided"
    assert 'Deny statement Sid "OnlyFromVpc" depends on condition key aws:SourceVpce' in decision.explain()


def test_a_known_false_condition_settles_a_statement_with_an_unknown_key_too():
    statement = deny(Condition={"Bool": {"aws:SecureTransport": "false"},
                                "StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c"}})
    assert evaluate([allow(), statement], PUT).allowed


def test_an_allow_on_an_unknown_key_alone_is_undecided():
    decision = evaluate([allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})], PUT)
    assert decision.outcome == "undecided" and "aws:SourceIp" in decision.explain()


def test_web_identity_trust_is_decided_on_the_service_account_subject():
    provider = "oidc.eks.us-east-1.amazonaws.com/id/ABC"
    trust = [{"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{provider}"},
              "Action": "sts:AssumeRoleWithWebIdentity",
              "Condition": {"StringEquals": {f"{provider}:sub": "system:serviceaccount:production:app-backend"}}}]

    def assume(subject):
        return evaluate(trust, Request(f"arn:aws:iam::123456789012:oidc-provider/{provider}",
                                       "sts:AssumeRoleWithWebIdentity", ROLE, principal_type="Federated",
                                       context={f"{provider}:sub": subject}))

    assert assume("system:serviceaccount:production:app-backend").allowed
    assert not assume("system:serviceaccount:production:app-worker").allowed


def test_public_statements_are_those_open_to_anyone_without_a_restricting_condition():
    statements = [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"},
        {"Sid": "FromVpc", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c"}}},
        {"Sid": "App", **{k: v for k, v in allow().items()}},
        {"Sid": "DenyAll", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"},
    ]
    assert public_statements(statements) == ['Sid "PublicRead"']
