"""What an on-call engineer and CI see when checks fail: terminal section, JUnit XML, Markdown."""

from __future__ import annotations

import pytest

XDIST = [pytest.param(False, id="in-process"), pytest.param(True, id="xdist")]

OAUTH_FAILURES = """
    import pytest
    from core.errors import Unverifiable

    pytestmark = [pytest.mark.oauth]

    @pytest.fixture
    def redis():
        raise Unverifiable("Redis at 10.0.0.5:6379 refused the connection",
                           remediation="oauth.restore-revocation-store")

    @pytest.mark.remediation("oauth.restart-pods")
    def test_signing_key_is_published_in_jwks():
        assert False, "signing key kid=k2 is not among the 1 keys published\\nsecond line"

    @pytest.mark.remediation("oauth.restart-pods")
    def test_tokens_round_trip():
        assert False, "token signed with kid=k2 was rejected"

    @pytest.mark.remediation("oauth.expire-revocation-entries")
    def test_revocation_store_answers(redis):
        pass

    @pytest.mark.remediation("oauth.expire-revocation-entries")
    def test_revocation_list_is_sane(redis):
        pass

    @pytest.mark.remediation("oauth.verify-key-pair")
    def test_jwks_is_served():
        pass
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_terminal_section_shows_the_rendered_command_for_this_environment(suite, xdist):
    suite.checks("""
        import pytest

        @pytest.mark.memory
        @pytest.mark.remediation("memory.find-leaks")
        def test_no_container_was_oomkilled(observed):
            observed(pod_name="app-backend-7d9f", container="app")
            assert False, "pod app-backend-7d9f was OOMKilled 3 times in 1h"
    """)
    result = suite.run(xdist=xdist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    section = out[out.index("= Suggested remediation ="):]
    assert "A container was OOMKilled at its own limit: its limit, then a leak" in section
    assert "Incident 5: High Memory Usage / OOMKilled, resolution 1, 3" in section
    assert ("FAILED test_checks.py::test_no_container_was_oomkilled - "
            "pod app-backend-7d9f was OOMKilled 3 times in 1h") in section
    assert "kubectl logs app-backend-7d9f -n production --previous -c app --tail=200" in section
    assert "open a ticket with the graph from <grafana_url>)" in section  # unfilled, visibly
    assert section.index("= Suggested remediation =") < section.index("short test summary info")


def test_oauth_restart_renders_the_runbook_command_exactly(suite):
    suite.checks("""
        import pytest

        @pytest.mark.oauth
        @pytest.mark.remediation("oauth.restart-pods")
        def test_signing_key_is_published_in_jwks():
            assert False, "not published"
    """)
    result = suite.run()
    assert "$ kubectl rollout restart deployment app-backend -n production\n" in result.stdout.str()
    assert "$ kubectl rollout status deployment/app-backend -n production" in result.stdout.str()
    assert "-m pytest -m oauth --env=production" in result.stdout.str()


@pytest.mark.parametrize("xdist", XDIST)
def test_nothing_is_printed_when_every_check_passes(suite, xdist):
    suite.checks("""
        import pytest

        @pytest.mark.cpu
        @pytest.mark.remediation("cpu.scale-out")
        def test_cpu_is_below_limits():
            pass

        @pytest.mark.cpu
        @pytest.mark.remediation("cpu.relieve-node")
        @pytest.mark.skip(reason="no metrics API in this environment")
        def test_not_configured():
            pass
    """)
    result = suite.run(xdist=xdist)
    assert result.ret == pytest.ExitCode.OK
    assert "Suggested remediation" not in result.stdout.str()


@pytest.mark.parametrize("xdist", XDIST)
def test_checks_with_one_id_and_errors_with_one_cause_form_one_group_each(suite, xdist):
    suite.checks(OAUTH_FAILURES)
    result = suite.run(xdist=xdist)
    out = result.stdout.str()
    section = out[out.index("= Suggested remediation ="):out.index("short test summary info")]
    assert section.count("Restart the app pods so they reload the signing keys") == 1
    assert "signing key kid=k2 is not among the 1 keys published" in section
    assert "second line" not in section
    assert "FAILED test_checks.py::test_tokens_round_trip - token signed with kid=k2 was rejected" \
        in section
    assert section.count("could not verify: Redis at 10.0.0.5:6379 refused the connection") == 1
    assert "      ERROR test_checks.py::test_revocation_store_answers\n" in section
    assert "      ERROR test_checks.py::test_revocation_list_is_sane\n" in section
    # Unverifiable.remediation wins over the checks' own; it is rendered once for the group.
    assert section.count("Bring the token revocation store (Redis) back") == 1
    assert "$ redis-cli -h 10.0.0.5 -p 6379 PING" in section
    assert "Clear the corrupted Redis token cache" not in section
    # One line per blocked check in the error reports, no traceback.
    errors = out[out.index("= ERRORS ="):out.index("= FAILURES =")]
    assert errors.count("could not verify: Redis at 10.0.0.5:6379 refused the connection") == 2
    assert "Traceback" not in errors and "raise Unverifiable" not in errors
    assert [line for line in errors.splitlines() if line and line[0] not in "_=["] == [
        "could not verify: Redis at 10.0.0.5:6379 refused the connection"] * 2
    result.stdout.fnmatch_lines(["ERROR test_checks.py::test_revocation_store_answers - could not verify: *"])


@pytest.mark.parametrize("xdist", XDIST)
def test_groups_are_ordered_most_urgent_first(suite, xdist):
    suite.checks("""
        import pytest

        @pytest.mark.rollback
        @pytest.mark.remediation("rollback.keep-history")
        def test_a_previous_revision_exists():
            assert False, "no previous revision"

        @pytest.mark.memory
        @pytest.mark.remediation("memory.raise-limits")
        def test_every_container_has_a_memory_limit():
            assert False, "container sidecar has no memory limit"

        @pytest.mark.db_pool
        @pytest.mark.remediation("db_pool.kill-idle")
        def test_no_idle_connections_older_than_the_limit():
            assert False, "3 idle connections older than 30 minutes"

        @pytest.mark.breach
        @pytest.mark.remediation("breach.block-public-access")
        def test_bucket_is_not_public():
            assert False, "bucket media is public"

        @pytest.mark.cpu
        @pytest.mark.remediation("cpu.scale-out")
        def test_cpu_below_limits():
            assert False, "cpu 95% of limit"
    """)
    out = suite.run(xdist=xdist).stdout.str()
    section = out[out.index("= Suggested remediation ="):]
    titles = ["Contain: block public access to the bucket",          # priority 1
              "Terminate idle connections holding pool slots",        # 2, db_pool
              "Scale the deployment out for immediate relief",        # 3, cpu before memory
              "Set or raise the memory limits (if justified)",        # 3, memory
              "No healthy revision to roll back to: fix forward"]     # 4
    positions = [section.index(title) for title in titles]
    assert positions == sorted(positions)
    assert "CAUTION: If safe, terminate the idle backends of application <application> the check found (PIDs <pids>)" in section


@pytest.mark.parametrize("xdist", XDIST)
def test_junit_xml_carries_properties_and_steps_for_failures_and_errors(suite, xdist):
    suite.checks(OAUTH_FAILURES)
    _, cases = suite.junit(xdist=xdist)

    failed = cases["test_signing_key_is_published_in_jwks"]
    props = suite.properties(failed)
    assert props["incident"] == "oauth"
    assert props["remediation"] == "oauth.restart-pods"
    assert props["runbook_section"] == "Incident 3: OAuth Token Validation Failing, resolution 3"
    assert "$ kubectl rollout restart deployment app-backend -n production" in props["remediation_steps"]
    failure = failed.find("failure")
    assert "signing key kid=k2" in failure.get("message")
    assert "Suggested remediation: Restart the app pods so they reload the signing keys" in failure.text
    assert "$ kubectl rollout restart deployment app-backend -n production" in failure.text

    errored = cases["test_revocation_store_answers"]
    props = suite.properties(errored)
    assert props["remediation"] == "oauth.restore-revocation-store"
    assert props["could_not_verify"] == "Redis at 10.0.0.5:6379 refused the connection"
    assert props["runbook_section"].startswith("Incident 3: OAuth Token Validation Failing")
    error = errored.find("error")
    assert "could not verify: Redis at 10.0.0.5:6379 refused the connection" in error.get("message")
    assert error.text.startswith("could not verify: Redis at 10.0.0.5:6379 refused the connection\n")
    assert "$ redis-cli -h 10.0.0.5 -p 6379 PING" in error.text
    assert "Traceback" not in error.text

    assert suite.properties(cases["test_jwks_is_served"]) == {}
    assert [p.get("name") for p in failed.iter("property")].count("remediation") == 1


def test_incident_property_joins_every_incident_marker(suite):
    suite.checks("""
        import pytest

        pytestmark = [pytest.mark.outage, pytest.mark.deploy]

        @pytest.mark.remediation("deploy.verify-health")
        def test_health_endpoints_answer():
            assert False, "GET /health/ready answered 503"
    """)
    _, cases = suite.junit()
    assert suite.properties(cases["test_health_endpoints_answer"])["incident"] == "outage,deploy"


def test_strict_xfail_that_passes_gets_a_remediation_and_skips_do_not(suite):
    suite.checks("""
        import pytest

        pytestmark = [pytest.mark.s3]

        @pytest.mark.remediation("s3.fix-bucket-policy")
        @pytest.mark.xfail(strict=True, reason="the drill denies PutObject")
        def test_bucket_policy_denies_during_drill():
            pass

        @pytest.mark.remediation("s3.fix-kms-key")
        def test_kms_key_not_configured():
            pytest.skip("environment has no [aws] kms_key_id")
    """)
    result, cases = suite.junit()
    strict = cases["test_bucket_policy_denies_during_drill"]
    assert suite.properties(strict)["remediation"] == "s3.fix-bucket-policy"
    assert "$ aws s3api get-bucket-policy --bucket <bucket><aws_target>" in strict.find("failure").text
    assert suite.properties(cases["test_kms_key_not_configured"]) == {}
    assert "Make the bucket's KMS key usable" not in result.stdout.str()


@pytest.mark.parametrize("xdist", XDIST)
def test_steps_already_shown_for_a_failure_are_referred_to_not_repeated(suite, xdist):
    suite.checks("""
        import pytest
        from core.errors import Unverifiable

        pytestmark = [pytest.mark.oauth]

        @pytest.fixture
        def jwks():
            raise Unverifiable("JWKS https://api.example.test/oauth/jwks.json answered HTTP 503")

        @pytest.mark.remediation("oauth.fix-jwks-endpoint")
        def test_jwks_endpoint_serves_json():
            assert False, "JWKS endpoint answered HTTP 503"

        @pytest.mark.remediation("oauth.fix-jwks-endpoint")
        def test_jwks_keys_are_well_formed(jwks):
            pass
    """)
    result = suite.run("--runbook-summary", "summary.md", xdist=xdist)
    out = result.stdout.str()
    section = out[out.index("= Suggested remediation ="):]
    assert section.count("$ curl -sS -i --max-time 10 --max-redirs 0 https://api.example.test/oauth/jwks.json") == 1
    assert "[2] could not verify: JWKS https://api.example.test/oauth/jwks.json answered HTTP 503" \
        in section
    assert "    steps: as in [1] above" in section
    markdown = (suite.pytester.path / "summary.md").read_text()
    assert markdown.count("curl -sS -i --max-time 10 --max-redirs 0 https://api.example.test/oauth/jwks.json") == 1
    assert "Steps as in section 1 above." in markdown


def test_unverifiable_raised_by_the_check_itself_is_one_error_line_under_its_own_remediation(suite):
    suite.checks("""
        import pytest
        from core.errors import Unverifiable

        @pytest.mark.db_pool
        @pytest.mark.remediation("db_pool.kill-idle")
        def test_postgres_has_headroom():
            raise Unverifiable("PostgreSQL at 10.0.0.4:5432 timed out after 5 s")
    """)
    result = suite.run()
    out = result.stdout.str()
    failures = out[out.index("= ERRORS ="):out.index("= Suggested remediation =")]
    assert "could not verify: PostgreSQL at 10.0.0.4:5432 timed out after 5 s" in failures
    result.assert_outcomes(errors=1)  # could not verify is ERROR, never FAILED (unhealthy)
    assert "raise Unverifiable" not in failures
    assert "Terminate idle connections holding pool slots" in out


@pytest.mark.parametrize("xdist", XDIST)
def test_markdown_summary_lists_failed_checks_and_steps(suite, xdist):
    suite.checks(OAUTH_FAILURES)
    suite.run("--runbook-summary", "reports/nightly/summary.md", xdist=xdist)
    text = (suite.pytester.path / "reports" / "nightly" / "summary.md").read_text()
    assert text.startswith("# Runbook checks: production\n")
    assert "2 failed, 2 could not be verified or errored, 1 passed, 0 skipped (5 checks)." in text
    assert ("| `test_checks.py::test_tokens_round_trip` | FAILED | oauth | incident-3/investigation-2 | "
            "`oauth.restart-pods` | "
            "token signed with kid=k2 was rejected |") in text
    # Same priority and incident: the runbook's order (resolution 2 before resolution 3).
    assert "## 1. Could not verify: Redis at 10.0.0.5:6379 refused the connection" in text
    assert "## 2. Restart the app pods so they reload the signing keys" in text
    assert "```sh\n   kubectl rollout restart deployment app-backend -n production\n   ```" in text
    assert text.count("### Suggested remediation: Bring the token revocation store (Redis) back") == 1


@pytest.mark.parametrize("xdist", XDIST)
def test_markdown_summary_says_all_passed_when_nothing_failed(suite, xdist):
    suite.checks("""
        import pytest

        @pytest.mark.outage
        @pytest.mark.remediation("outage.restore-nodes")
        @pytest.mark.parametrize("node", ["a", "b", "c"])
        def test_node_is_ready(node):
            pass
    """)
    suite.ini(runbook_summary="reports/from-ini.md")
    result = suite.run(xdist=xdist)
    assert result.ret == pytest.ExitCode.OK
    text = (suite.pytester.path / "reports" / "from-ini.md").read_text()
    assert text == "# Runbook checks: production\n\nAll 3 checks passed.\n"


def test_command_line_summary_path_wins_over_the_ini(suite):
    suite.checks("""
        def test_unrelated():
            pass
    """)
    suite.ini(runbook_summary="reports/from-ini.md")
    suite.run("--runbook-summary", "cli.md")
    assert (suite.pytester.path / "cli.md").exists()
    assert not (suite.pytester.path / "reports" / "from-ini.md").exists()


def test_observed_refuses_a_secret(suite):
    suite.checks("""
        import pytest
        from core.secret import Secret

        @pytest.mark.oauth
        @pytest.mark.remediation("oauth.verify-key-pair")
        def test_records_a_key(observed):
            with pytest.raises(TypeError, match="Secret"):
                observed(kid=Secret("-----BEGIN PRIVATE KEY-----", "jwt private key"))
            with pytest.raises(TypeError, match="Secret"):
                observed(kid=["k1", Secret("hunter2")])
    """)
    result = suite.run()
    assert result.ret == pytest.ExitCode.OK


def test_observed_refuses_a_name_the_remediation_does_not_declare(suite):
    suite.checks("""
        import pytest

        @pytest.mark.memory
        @pytest.mark.remediation("memory.find-leaks")
        def test_records(observed):
            with pytest.raises(TypeError, match="declares no observation 'podname'.*pod_name"):
                observed(podname="app-backend-7d9f")
    """)
    assert suite.run().ret == pytest.ExitCode.OK


@pytest.mark.parametrize("xdist", XDIST)
def test_the_suites_own_access_problem_suggests_no_runbook_remediation(suite, xdist):
    suite.checks("""
        import pytest
        from core.errors import Unverifiable

        pytestmark = [pytest.mark.oauth]

        @pytest.fixture
        def secret():
            raise Unverifiable("Kubernetes API https://k8s forbids GET .../secrets/jwt-keys (403)",
                               suite_access=True)

        @pytest.mark.remediation("oauth.regenerate-keys")
        def test_secret_holds_a_key_pair(secret):
            pass
    """)
    result, cases = suite.junit(xdist=xdist)
    out = result.stdout.str()
    section = out[out.index("= Suggested remediation ="):out.index("short test summary info")]
    assert "could not verify: Kubernetes API https://k8s forbids GET .../secrets/jwt-keys (403)" in section
    assert "no runbook remediation applies: the suite itself could not reach or read this" in section
    assert "Regenerate" not in out and "CAUTION" not in out
    properties = suite.properties(cases["test_secret_holds_a_key_pair"])
    assert properties["incident"] == "oauth"
    assert "remediation" not in properties
