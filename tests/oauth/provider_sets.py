"""JWK Sets in the exact shapes real identity providers publish, built around a given signing key.

Each builder takes the public JWK of the key whose tokens must verify (the sandbox's signing key,
as its app publishes it) and returns the document a provider would serve holding that key beside
its other keys:

- Microsoft Entra ID (login.microsoftonline.com/<tenant>/discovery/v2.0/keys): ``kty``, ``use``,
  ``kid`` (= ``x5t``), ``x5t``, ``n``, ``e``, ``x5c``, ``issuer``; no ``alg``.
- Keycloak (/realms/<realm>/protocol/openid-connect/certs): an RS256 ``use: sig`` key with
  ``x5c``/``x5t``/``x5t#S256``, beside an ``RSA-OAEP`` ``use: enc`` key.
- the oidc-provider npm package (/jwks): ``kty``, ``use``, ``kid``, ``e``, ``n``; no ``alg``.
- a set of RSA, EC P-256 and OKP Ed25519 keys without ``use``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

import jwt

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_key_of(jwk: dict):
    """The cryptography public key of a public RSA JWK."""
    return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps({"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}))


def certificate(subject_key, *, issuer_key=None, name: str = "accounts.accesscontrol.windows.net") -> bytes:
    """DER of an X.509 certificate for ``subject_key`` (a public key), signed by ``issuer_key`` (a
    CA the test makes up) - as a provider's signing certificate is."""
    issuer_key = issuer_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(timezone.utc)
    built = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")]))
             .public_key(subject_key).serial_number(x509.random_serial_number())
             .not_valid_before(now - timedelta(days=30)).not_valid_after(now + timedelta(days=700))
             .sign(issuer_key, hashes.SHA256()))
    return built.public_bytes(serialization.Encoding.DER)


def _rsa_members(key) -> dict:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    return {"n": jwk["n"], "e": jwk["e"]}


def _other_rsa():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()


def entra_key(members: dict, der: bytes) -> dict:
    x5t = b64url(hashlib.sha1(der).digest())
    return {"kty": "RSA", "use": "sig", "kid": x5t, "x5t": x5t, **members,
            "x5c": [base64.b64encode(der).decode()],
            "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0"}


def entra_id(signing: dict) -> dict:
    """Entra ID: three RSA keys, no alg, kid = x5t, each with its certificate."""
    keys = [entra_key(_rsa_members(k), certificate(k)) for k in (_other_rsa(), _other_rsa())]
    mine = {"n": signing["n"], "e": signing["e"]}
    keys.insert(1, entra_key(mine, certificate(public_key_of(signing))))
    return {"keys": keys}


def keycloak(signing: dict) -> dict:
    """Keycloak: the RS256 signing key with its certificate chain, and an RSA-OAEP encryption key."""
    der = certificate(public_key_of(signing), name="myrealm")
    enc = _other_rsa()
    enc_der = certificate(enc, name="myrealm")

    def key(members: dict, der: bytes, use: str, alg: str) -> dict:
        return {"kid": b64url(uuid.uuid4().bytes), "kty": "RSA", "alg": alg, "use": use, **members,
                "x5c": [base64.b64encode(der).decode()], "x5t": b64url(hashlib.sha1(der).digest()),
                "x5t#S256": b64url(hashlib.sha256(der).digest())}

    return {"keys": [key(_rsa_members(enc), enc_der, "enc", "RSA-OAEP"),
                     key({"n": signing["n"], "e": signing["e"]}, der, "sig", "RS256")]}


def oidc_provider(signing: dict) -> dict:
    """The oidc-provider npm package: kty, use, kid, e, n and nothing else."""
    return {"keys": [{"e": signing["e"], "n": signing["n"], "kty": "RSA", "kid": signing["kid"], "use": "sig"}]}


def mixed_types_without_use(signing: dict) -> dict:
    """RSA, EC P-256 and OKP Ed25519 keys, none with ``use`` (a common multi-algorithm set)."""
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    okp_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate().public_key()))
    return {"keys": [{"kty": "RSA", "kid": signing["kid"], "alg": "RS256", "n": signing["n"], "e": signing["e"]},
                     {**ec_jwk, "kid": "ec-1", "alg": "ES256"},
                     {**okp_jwk, "kid": "okp-1", "alg": "EdDSA"}]}


def with_leading_zero(document: dict, kid: str) -> dict:
    """The same set, the key ``kid`` with a leading zero octet in ``n`` (RFC 7518 6.3.1.1 says omit it)."""
    keys = []
    for key in document["keys"]:
        if key.get("kid") == kid:
            raw = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
            key = {**key, "n": b64url(b"\0" + raw)}
        keys.append(key)
    return {"keys": keys}


def with_foreign_certificate(document: dict, kid: str) -> dict:
    """The same set, the key ``kid`` carrying the certificate (and x5t) of another key."""
    der = certificate(_other_rsa())
    return {"keys": [{**k, "x5c": [base64.b64encode(der).decode()], "x5t": b64url(hashlib.sha1(der).digest())}
                     if k.get("kid") == kid else k for k in document["keys"]]}
