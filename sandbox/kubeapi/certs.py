"""The server's self-signed TLS certificate (HTTPS because kubectl sends bearer tokens only over TLS)."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["make_self_signed"]


def make_self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write ``kubeapi-ca.pem`` and ``kubeapi-key.pem`` under ``directory``: an EC P-256 certificate
    for ``host``, 127.0.0.1 and localhost that is its own CA, so clients can trust it as
    ``certificate-authority``. Returns (certificate path, key path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "runbook-checks sandbox kube-apiserver")])
    now = datetime.datetime.now(datetime.timezone.utc)
    addresses = {ipaddress.ip_address("127.0.0.1")}
    try:
        addresses.add(ipaddress.ip_address(host))
    except ValueError:
        pass
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), *(x509.IPAddress(a) for a in sorted(addresses, key=str))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=False,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "kubeapi-ca.pem", directory / "kubeapi-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return cert_path, key_path
