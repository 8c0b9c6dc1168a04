"""The bounded Redis client against hostile peers and a real Redis without HELLO: RESP2 with AUTH,
a total deadline per exchange, replies capped, and the password in no output."""

from __future__ import annotations

import subprocess

import pytest
import redis

from core.config import RedisSection
from transport.redis import ReplyTooLarge, connect, deadline
from core.secret import Secret
from sandbox.process import terminate
from tests.hostile import peers
from tests.suite.runner import run_suite
from tests.suite.test_redis_credentials import _listening

TIMEOUT = 1.0
PASSWORD = "no-hello-password-4f9a2c"


def ping(url: str, password: str | None = None):
    client = connect(RedisSection(url=url, password=Secret(password) if password else None, timeout_seconds=TIMEOUT))
    try:
        with deadline(TIMEOUT):
            return client.ping()
    finally:
        client.close()


@pytest.mark.parametrize(("behaviour", "error"), [
    (peers.RESP_NEVER_ANSWERS, redis.TimeoutError),
    (peers.RESP_TRICKLES, redis.TimeoutError),
    (peers.RESP_HUGE_BULK, ReplyTooLarge),
], ids=["never-answers", "trickles", "huge-bulk"])
def test_a_hostile_redis_peer_costs_one_deadline_and_bounded_memory(behaviour, error):
    with peers.Peer(behaviour) as peer:
        result, elapsed, peak = peers.timed(lambda: ping(f"redis://127.0.0.1:{peer.port}/0"))
    assert isinstance(result, error), result
    assert elapsed <= TIMEOUT + 1, f"{elapsed:.1f} s"
    assert peak < 64 << 20, f"peak {peak >> 20} MiB"
    assert not any(b"HELLO" in request.upper() for request in peer.requests)


@pytest.fixture(scope="module")
def redis_without_hello(tmp_path_factory):
    """A real password-protected Redis whose HELLO command is renamed away (proxies, managed Redis)."""
    from sandbox.ports import free_port

    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", PASSWORD,
         "--rename-command", "HELLO", "", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path_factory.mktemp("no-hello"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    peers.wait_until(lambda: _listening(port) or process.poll() is not None, 5)
    yield port
    terminate(process, timeout=5)


def test_a_redis_without_hello_is_reached_with_auth_and_the_password_is_never_printed(tmp_path, redis_without_hello):
    env_file = tmp_path / "redis.toml"
    env_file.write_text(f'[redis]\nurl = "redis://127.0.0.1:{redis_without_hello}/0"\npassword = "${{NH_PW}}"\n')
    run = run_suite(tmp_path, "-m", "oauth", f"--env={env_file}", "-l", "--tb=long", "-vv", "-rA",
                    env={"NH_PW": PASSWORD})
    assert run.returncode == 0, run.output
    assert run.names("passed") == {"test_oauth.py::test_revocation_store_answers_ping",
                                   "test_oauth.py::test_revocation_list_is_within_limit",
                                   "test_oauth.py::test_revocation_entries_expire"}
    assert PASSWORD not in run.everything()


def test_a_ping_answered_with_a_huge_bulk_string_fails_with_the_cap_named(tmp_path):
    with peers.Peer(peers.RESP_HUGE_BULK) as peer:
        env_file = tmp_path / "redis.toml"
        env_file.write_text(f'[redis]\nurl = "redis://127.0.0.1:{peer.port}/0"\ntimeout_seconds = 1\n')
        run = run_suite(tmp_path, "-m", "oauth", f"--env={env_file}", "-l", "--tb=long", "-vv", "-rA")
    case = run.cases["test_oauth.py::test_revocation_store_answers_ping"]
    assert case.outcome == "failed", run.output
    assert (f"Redis redis://127.0.0.1:{peer.port}/0 did not answer PING: sent more than 8 MiB for one reply "
            "(the suite's reply cap); stopped reading") in case.text
    assert run.cases["test_oauth.py::test_revocation_list_is_within_limit"].outcome == "error"
    assert run.cases["test_oauth.py::test_revocation_entries_expire"].outcome == "error"
