"""Unexpected is not unhealthy, and no registered secret leaves the process by any path."""

from __future__ import annotations

import pytest

CRASHES = """
    import logging
    import pytest
    from core.redact import register
    from core.secret import Secret

    @pytest.fixture(scope="session")
    def jwks():
        def nested(depth):
            return nested(depth + 1)
        return nested(0)

    @pytest.fixture(scope="session")
    def slow_peer():
        import time
        time.sleep(30)

    @pytest.mark.breach
    @pytest.mark.remediation("breach.rotate-signing-keys")
    def test_jwks_publishes_no_private_key_material(jwks):
        assert jwks

    @pytest.mark.oauth
    @pytest.mark.remediation("oauth.restart-pods")
    def test_app_accepts_token(slow_peer):
        assert slow_peer

    @pytest.mark.oauth
    @pytest.mark.remediation("oauth.expire-revocation-entries")
    def test_check_body_crashes():
        members = {"d": "not-a-dict"}
        members.keys().missing
"""


def test_a_crash_or_a_timeout_is_could_not_verify_with_no_runbook_remediation(suite):
    suite.checks(CRASHES)
    # In subprocesses (xdist workers): pytest-timeout's alarm must not meet the outer run's.
    result, cases = suite.junit("-o", "timeout=3", xdist=True)
    out = result.stdout.str()
    result.assert_outcomes(errors=3)
    expected = {
        "test_jwks_publishes_no_private_key_material":
            "could not verify: unexpected RecursionError while setting up fixture jwks",
        "test_app_accepts_token":
            "could not verify: unexpected timeout (pytest-timeout's limit of 3.0 s, ini key timeout) "
            "while setting up fixture slow_peer",
        "test_check_body_crashes": "could not verify: unexpected AttributeError while running the check",
    }
    for name, line in expected.items():
        props = suite.properties(cases[name])
        assert "remediation" not in props and "remediation_steps" not in props, name
        assert props["could_not_verify"] == line.removeprefix("could not verify: ")
        assert line in out
    # The breach's CAUTION step, a pod restart or FLUSHDB would be wrong advice for a crash.
    assert "Rotate the exposed" not in out and "rollout restart" not in out and "FLUSHDB" not in out
    assert out.count("an unexpected error is a bug of the suite or a peer answering nonsense") == 3


LEAKS = """
    import logging
    import pytest
    from core.redact import register
    from core.secret import Secret

    TOKEN = Secret("eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLXZhbHVl", "probe token")
    PASSWORD = Secret("correct-horse-battery-staple", "redis password")

    @pytest.fixture
    def peer(request):
        headers = {"Authorization": f"Bearer {TOKEN.reveal()}"}  # the old pattern: a plain dict
        request.node.user_properties.append(("seen", PASSWORD.reveal()))
        raise RuntimeError(f"server echoed: unknown command 'HELLO', with args beginning with: "
                           f"'3' 'AUTH' 'default' '{PASSWORD.reveal()}'")

    @pytest.mark.oauth
    @pytest.mark.remediation("oauth.restart-pods")
    def test_uses_the_peer(peer):
        assert peer

    @pytest.mark.oauth
    @pytest.mark.remediation("oauth.restart-pods")
    def test_prints_and_logs_and_fails():
        private = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
        register(private)
        value = TOKEN.reveal()
        print("stdout:", value, private)
        logging.getLogger("peer").warning("stderr-ish log %s", PASSWORD.reveal())
        assert value == "x", f"token {value} was rejected"
"""
VALUES = ["eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLXZhbHVl", "correct-horse-battery-staple",
          "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"]


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_no_registered_secret_reaches_the_terminal_junit_markdown_or_debug_log(suite, xdist):
    suite.checks(LEAKS)
    debug = suite.pytester.path / "pytestdebug.log"
    result, _ = suite.junit("-l", "--tb=long", "-vv", "-rA", f"--debug={debug}", "--log-level=DEBUG",
                            "--runbook-summary=summary.md", xdist=xdist)
    texts = {
        "terminal": result.stdout.str() + result.stderr.str(),
        "junit": (suite.pytester.path / "reports" / "junit.xml").read_text(),
        "markdown": (suite.pytester.path / "summary.md").read_text(),
        # under xdist the controller and both workers append to the one file: bytes may interleave
        "debug log": debug.read_bytes().decode("utf-8", "replace"),
    }
    assert "<redacted>" in texts["terminal"] and "&lt;redacted&gt;" in texts["junit"]
    for where, text in texts.items():
        for value in VALUES:
            assert value not in text, f"{where} leaks {value[:6]}…"
            assert value[10:40] not in text, f"{where} leaks a slice of {value[:6]}…"
