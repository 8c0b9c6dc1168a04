"""The real suite, JWKS and probe pointed at hostile peers (the rest is a sandbox started by hand):
each fault is one run with the most revealing options, asserting the outcome, the one sentence, no
wrong remediation, and that no secret the run handled (the probe JWT above all) is printed."""

from __future__ import annotations

import re

import pytest

from tests.hostile import peers
from tests.suite.runner import assert_no_handled_secrets, run_suite
from tests.suite.test_sandbox_by_hand import known_secrets, sandbox_up  # noqa: F401  (module fixture)

pytestmark = pytest.mark.xdist_group("sandbox-for-hostile-peers")

SERVE = "test_oauth.py::test_jwks_endpoint_serves_json"
PROBE = "test_oauth.py::test_app_accepts_token_signed_with_current_key"


def pointed_at(sandbox_env, tmp_path, *, jwks: str | None = None, probe: str | None = None, timeout: float = 1.5):
    text = sandbox_env.read_text()
    if jwks:
        text = re.sub(r'(?m)^jwks_url = ".*"$', f'jwks_url = "{jwks}"', text)
    if probe:
        text = re.sub(r'(?m)^probe_url = ".*"$', f'probe_url = "{probe}"', text)
    text = text.replace("[oauth]\n", f"[oauth]\nrequest_timeout_seconds = {timeout}\n")
    path = tmp_path / "hostile.toml"
    path.write_text(text)
    return f"--env={path}"


def test_a_probe_interrupted_by_pytest_timeout_is_could_not_verify_and_prints_no_token(sandbox_up, tmp_path):
    _, state_dir, env_file = sandbox_up
    with peers.Peer(peers.never_answers) as peer:
        run = run_suite(tmp_path, "-m", "oauth", pointed_at(env_file, tmp_path, probe=f"{peer.url}/me", timeout=30),
                        "-o", "timeout=8", revealing=True)
    case = run.cases[PROBE]
    assert case.outcome == "error", run.output
    assert case.properties["could_not_verify"] == (
        "unexpected timeout (pytest-timeout's limit of 8.0 s, ini key timeout) while setting up fixture probe_response")
    assert "remediation" not in case.properties  # not "restart the pods" for a suite interrupted mid-request
    assert b"authorization: bearer ey" in peer.requests[0].lower()  # the token was sent, and is in no output
    assert_no_handled_secrets(run, known_secrets(state_dir, state_dir / "kubeconfig"))


def test_trickling_jwks_and_probe_cost_one_deadline_each_and_print_no_token(sandbox_up, tmp_path):
    _, state_dir, env_file = sandbox_up
    with peers.Peer(peers.trickles_body) as jwks, peers.Peer(peers.trickles_headers) as probe:
        run = run_suite(tmp_path, "-m", "oauth", pointed_at(env_file, tmp_path, jwks=f"{jwks.url}/jwks.json",
                                                            probe=f"{probe.url}/me"), revealing=True)
    deadline = "gave no complete answer within oauth.request_timeout_seconds = 1.5 s (a total deadline per request)"
    assert run.cases[SERVE].outcome == "failed", run.output
    assert f"JWKS endpoint {jwks.url}/jwks.json {deadline}" in run.cases[SERVE].text
    assert run.cases[PROBE].outcome == "error"
    assert run.cases[PROBE].properties["could_not_verify"] == f"probe URL {probe.url}/me {deadline}"
    assert len(jwks.requests) == 1  # one fetch for every JWKS check: one deadline, not one per check
    assert_no_handled_secrets(run, known_secrets(state_dir, state_dir / "kubeconfig"))


@pytest.mark.parametrize(("behaviour", "problem"), [
    (peers.huge_body, "sent more than the cap for a JWKS body (1 MiB); stopped reading"),
    (peers.NESTED_JSON, "answered 200 but the body is not usable JSON (JSON nested deeper than the parser's "
                        "recursion limit)"),
], ids=["2-gb-body", "nested-json"])
def test_a_jwks_too_big_or_too_deep_fails_its_check_and_blocks_the_rest_with_its_reason(sandbox_up, tmp_path,
                                                                                       behaviour, problem):
    _, state_dir, env_file = sandbox_up
    with peers.Peer(behaviour) as jwks:
        run = run_suite(tmp_path, "-m", "oauth", pointed_at(env_file, tmp_path, jwks=f"{jwks.url}/jwks.json"),
                        revealing=True)
    assert run.cases[SERVE].outcome == "failed", run.output
    assert problem in run.cases[SERVE].text
    blocked = [c for c in run.cases.values() if c.outcome == "error"]
    assert blocked and all(c.properties["could_not_verify"].endswith(problem) for c in blocked)
    assert "unexpected" not in run.output  # neither RecursionError nor MemoryError: a verdict
    assert "Rotate the exposed" not in run.output
    assert_no_handled_secrets(run, known_secrets(state_dir, state_dir / "kubeconfig"))
