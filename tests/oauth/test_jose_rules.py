"""The JWK rules one by one, on keys built in the test: what makes a key invalid, what is only an
encoding finding, how keys are identified, and that the rules stay linear in the number of keys."""

from __future__ import annotations

import base64
import gc
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from core.config import load_environment
from core.jose import PublicJwk, certificate_findings, parse_jwk, public_key_numbers, thumbprint
from fixtures.oauth import Jwks, JwksResponse, jwks_key_problems
from tests.oauth import provider_sets

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_JWK = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))


def b64(value: int, length: int | None = None) -> str:
    return provider_sets.b64url(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    path = tmp_path_factory.mktemp("env") / "oauth-only.toml"
    path.write_text('[oauth]\njwks_url = "http://127.0.0.1:1/jwks"\nsecret_name = "jwt-keys"\n')
    return load_environment(path, {})


def problems(env, *keys: dict) -> dict[int, list[str]]:
    jwks = Jwks("http://jwks.test", tuple(parse_jwk(i, k) for i, k in enumerate(keys, 1)))
    return {key.position: found for key, found in jwks_key_problems(env, jwks) if found}


@pytest.mark.parametrize("e", [1, 2, 65536], ids=["one", "two", "even"])
def test_an_rsa_exponent_that_is_not_an_odd_integer_from_3_is_invalid(env, e):
    key = parse_jwk(1, {**RSA_JWK, "e": b64(e)})
    assert key.numbers is None
    assert [f for f in key.invalid if "RFC 8017 section 3.1" in f and f"e={e}" in f]
    assert problems(env, {**RSA_JWK, "e": b64(e)})[1] == list(key.invalid)


def test_an_even_modulus_is_invalid(env):
    n = RSA_KEY.public_key().public_numbers().n + 1
    assert "not a product of odd primes (RFC 8017 section 3.1)" in problems(env, {**RSA_JWK, "n": b64(n)})[1][0]


def test_a_leading_zero_in_n_is_the_same_key_with_an_encoding_finding_only(env):
    raw = base64.urlsafe_b64decode(RSA_JWK["n"] + "==")
    padded = parse_jwk(1, {**RSA_JWK, "n": provider_sets.b64url(b"\0" + raw)})
    assert padded.thumbprint == thumbprint(public_key_numbers(RSA_KEY.public_key()))
    assert padded.invalid == () and len(padded.encoding) == 1 and "RFC 7518 section 6.3.1.1" in padded.encoding[0]
    assert problems(env, {**RSA_JWK, "n": provider_sets.b64url(b"\0" + raw)}) == {}


def test_ec_and_okp_keys_are_identified_by_their_numbers_and_a_point_off_the_curve_is_invalid():
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    assert parse_jwk(1, jwk).numbers == public_key_numbers(key)
    numbers = key.public_numbers()
    off = parse_jwk(1, {**jwk, "y": b64(numbers.y ^ 1, 48)})
    assert off.numbers is None and "not on curve P-384" in off.invalid[0]
    short = parse_jwk(1, {**jwk, "x": b64(numbers.x)}) if numbers.x.bit_length() <= 376 else None
    if short is not None:  # a coordinate without its leading zero octets: encoding, not validity
        assert "full size" in short.encoding[0]
    okp = ed25519.Ed25519PrivateKey.generate().public_key()
    okp_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(okp))
    assert parse_jwk(1, okp_jwk).thumbprint == thumbprint(public_key_numbers(okp))
    assert "not the 32 of a Ed25519" in parse_jwk(1, {**okp_jwk, "x": okp_jwk["x"][:-4]}).invalid[0]


def test_alg_use_and_kid_are_optional_for_a_single_signing_key(env):
    assert problems(env, {"kty": "RSA", "n": RSA_JWK["n"], "e": RSA_JWK["e"]}) == {}


def test_use_is_required_on_every_key_only_when_signing_and_encryption_keys_are_mixed(env):
    enc = {**RSA_JWK, "kid": "enc", "alg": "RSA-OAEP"}  # an encryption key by its alg, without use
    found = problems(env, {**RSA_JWK, "kid": "sig"}, enc)
    assert set(found) == {1, 2} and all("OpenID Connect Discovery 1.0 section 3" in f[0] for f in found.values())
    assert problems(env, {**RSA_JWK, "kid": "sig", "use": "sig"}, {**enc, "use": "enc"}) == {}


def test_an_encryption_key_is_listed_but_is_not_a_signing_key():
    jwks = Jwks("u", (parse_jwk(1, {**RSA_JWK, "use": "enc", "alg": "RSA-OAEP", "kid": "k"}),))
    assert jwks.signing_keys == [] and jwks.published_as(jwks.keys[0].thumbprint) is None
    assert "key 1 (kid=k) RSA enc" in jwks.listing()


def test_an_alg_of_another_key_type_or_curve_is_a_finding(env):
    assert "does not apply to a RSA key" in problems(env, {**RSA_JWK, "alg": "ES256"})[1][0]
    p384 = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key()))
    assert "does not use curve P-384" in problems(env, {**p384, "alg": "ES256"})[1][0]


def test_kids_must_differ_among_keys_of_one_use_and_are_needed_when_several_sign(env):
    other = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()))
    assert "published 2 times" in problems(env, {**RSA_JWK, "kid": "a"}, {**other, "kid": "a"})[1][0]
    assert "no kid, in a set of 2 signing keys" in problems(env, RSA_JWK, {**other, "kid": "b"})[1][0]


def test_a_key_type_not_understood_is_ignored_as_rfc_7517_section_5_says(env):
    assert problems(env, {**RSA_JWK, "kid": "a"}, {"kty": "AKP", "kid": "pq", "alg": "ML-DSA-44", "pub": "AAAA"}) == {}


def test_the_x5c_certificate_must_hold_the_key_and_x5t_must_be_its_thumbprint():
    document = provider_sets.entra_id({**RSA_JWK, "kid": "mine"})
    assert all(certificate_findings(parse_jwk(i, k)) == [] for i, k in enumerate(document["keys"], 1))
    kid = document["keys"][0]["kid"]
    foreign = provider_sets.with_foreign_certificate(document, kid)["keys"][0]
    assert "holds another key" in certificate_findings(parse_jwk(1, foreign))[0]
    stale_x5t = {**document["keys"][0], "x5t": document["keys"][1]["x5t"]}
    assert certificate_findings(parse_jwk(1, stale_x5t)) == ["x5t is not the thumbprint of x5c[0] (RFC 7517 section 4.8)"]


def test_the_public_view_of_a_leaking_key_holds_no_private_value():
    leaking = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY))
    key = parse_jwk(1, leaking)
    assert key.private_members == ("d", "p", "q", "dp", "dq", "qi")
    shown = repr(key) + repr(vars(key))
    assert leaking["d"] not in shown and leaking["p"] not in shown


@pytest.mark.parametrize("header, seconds", [
    ("public, max-age=31536000, immutable", 31536000), ("max-age=300, s-maxage=90000", 90000),
    ("no-store", None), (None, None)])
def test_the_cache_lifetime_is_read_from_cache_control(header, seconds):
    lifetime = JwksResponse("u", cache_control=header).cache_lifetime
    assert (lifetime and lifetime[0]) == seconds


def test_the_key_rules_are_linear_in_the_number_of_keys(env):
    """100,000 keys (a hostile or broken JWKS): ten times the keys costs about ten times the time."""
    def timed(count: int) -> float:
        base = parse_jwk(1, RSA_JWK)  # parsed once: the rules over the parsed keys are what is timed
        keys = tuple(PublicJwk(position=i, kty="RSA", kid=f"k{i % (count // 2)}", numbers=base.numbers)
                     for i in range(1, count + 1))
        jwks = Jwks("u", keys)
        timings = []
        gc.disable()  # the cyclic collector's passes over 100,000 new objects are not the rules' cost
        try:
            for _ in range(3):
                started = time.process_time()  # this process's CPU: other processes' load does not count
                found = jwks_key_problems(env, jwks)
                timings.append(time.process_time() - started)
        finally:
            gc.enable()
        assert sum(1 for _, f in found if f) == count  # every kid is duplicated once
        return min(timings)  # the least disturbed by the other processes on the machine

    small, large = timed(10_000), timed(100_000)
    assert large < 30 * small, f"10,000 keys in {small:.3f} s, 100,000 in {large:.3f} s: not linear"


def test_key_ops_mark_an_encryption_key_only_when_they_name_encryption_operations_alone(env):
    assert parse_jwk(1, {**RSA_JWK, "key_ops": ["sign"]}).for_signatures  # as pyjwt writes a private JWK
    assert parse_jwk(1, {**RSA_JWK, "key_ops": ["wrapKey", "encrypt"]}).for_encryption
    assert "MUST be consistent" in problems(env, {**RSA_JWK, "use": "sig", "key_ops": ["encrypt"]})[1][0]


def test_the_published_listing_shows_every_key_duplicates_included():
    jwks = Jwks("u", tuple(parse_jwk(i, {**RSA_JWK, "kid": "same"}) for i in range(1, 5)))
    listing = jwks.listing()
    assert [f"key {i} (kid=same) RSA" in listing for i in range(1, 5)] == [True] * 4
