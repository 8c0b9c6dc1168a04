"""The bounded HTTP transport against hostile peers: every fault ends within the total deadline
(+1 s), in bounded memory, with one sentence naming the target and the limit it exceeded."""

from __future__ import annotations

import pytest

from transport import http
from transport.http import BearerAuth, BoundedHttp, HttpProblem
from core.secret import Secret
from tests.hostile import peers

TIMEOUT = 1.5
MEMORY = 64 << 20  # peak traced allocation for one request, far below the body sizes offered


def get(url: str, cap: http.Cap = http.JWKS, **kwargs):
    with BoundedHttp(timeout=TIMEOUT, timeout_key="oauth.request_timeout_seconds") as client:
        return client.get(url, target=f"JWKS {url}", cap=cap, **kwargs)


@pytest.mark.parametrize(("behaviour", "sentence"), [
    (peers.never_answers, "gave no complete answer within oauth.request_timeout_seconds = 1.5 s (a total deadline per request)"),
    (peers.trickles_headers, "gave no complete answer within oauth.request_timeout_seconds = 1.5 s (a total deadline per request)"),
    (peers.trickles_body, "gave no complete answer within oauth.request_timeout_seconds = 1.5 s (a total deadline per request)"),
    (peers.endless_chunked, "sent more than the cap for a JWKS body (1 MiB); stopped reading"),
    (peers.huge_body, "sent more than the cap for a JWKS body (1 MiB); stopped reading"),
    (peers.gzip_bomb, "sent more than the cap for a JWKS body (1 MiB); stopped reading"),
    (peers.accepts_and_closes, "unreachable: Server disconnected without sending a response."),
], ids=lambda v: getattr(v, "__name__", None))
def test_a_hostile_http_peer_costs_one_deadline_and_bounded_memory(behaviour, sentence):
    with peers.Peer(behaviour) as peer:
        error, elapsed, peak = peers.timed(lambda: get(peer.url + "/jwks.json"))
    assert isinstance(error, HttpProblem), error
    assert str(error) == f"JWKS {peer.url}/jwks.json {sentence}"
    assert elapsed <= TIMEOUT + 1, f"{elapsed:.1f} s"
    assert peak < MEMORY, f"peak {peak >> 20} MiB"


def test_json_nested_a_hundred_thousand_deep_is_a_value_error_not_a_recursion_error():
    with peers.Peer(peers.NESTED_JSON) as peer:
        response = get(peer.url)
    with pytest.raises(ValueError, match="nested deeper than the parser's recursion limit"):
        response.json()


def test_a_redirect_is_not_followed_unless_asked():
    redirect = peers.answers(302, b"", extra="Location: http://127.0.0.1:9/elsewhere\r\n")
    with peers.Peer(redirect) as peer:
        response = get(peer.url)
    assert (response.status, response.final_url) == (302, peer.url)


def test_a_probe_answer_is_cut_at_its_cap_without_failing():
    with peers.Peer(peers.huge_body) as peer:
        response = get(peer.url, cap=http.PROBE)
    assert response.status == 200 and response.truncated and len(response.content) == http.PROBE.max_bytes


def test_the_bearer_token_travels_in_the_request_and_is_masked_in_every_repr():
    seen = []
    with peers.Peer(peers.answers(200, b"{}")) as peer:
        auth = BearerAuth(Secret("token-for-the-peer-0123456789", "probe token"))
        with BoundedHttp(timeout=TIMEOUT, timeout_key="t", auth=auth) as client:
            response = client.get(peer.url, target="probe", cap=http.PROBE)
            seen.append(repr(client))
        seen += [repr(auth), repr(response), repr(response.headers)]
    assert b"authorization: bearer token-for-the-peer-0123456789\r\n" in peer.requests[0].lower()
    assert not any("token-for-the-peer" in text for text in seen)


def test_an_invalid_url_is_one_sentence_not_an_escaping_exception():
    error, _, _ = peers.timed(lambda: get("http://[::1"))
    assert isinstance(error, HttpProblem) and str(error).startswith("JWKS http://[::1 unreachable: ")
