"""``-p tests.hostile.secretdump``: at the end of a run, every process writes the secret values it
handled (everything the redaction layer registered, plus the JWK members of every private key)
to ``$SECRETDUMP_DIR/<process>.secrets``, so a test can search every output for the exact values."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from core.redact import registered_values


def _jwk_forms(pem: str) -> list[str]:
    """The private members of a PEM private key as they would appear in a JWK (base64url)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return []

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        return [b64(v) for v in (numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp)]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return [b64(key.private_numbers().private_value)]
    return []


def pytest_sessionfinish(session) -> None:
    out = os.environ.get("SECRETDUMP_DIR")
    if not out:
        return
    values = set(registered_values())
    for value in list(values):
        if "PRIVATE KEY-----" in value:
            values.update(_jwk_forms(value))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "controller")
    Path(out, f"{worker}.secrets").write_text(json.dumps(sorted(values)))
