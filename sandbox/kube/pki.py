"""The control plane's certificates and keys: one CA, the API server's serving certificate, the
front-proxy client for aggregated APIs, a serving certificate for kwok's kubelet endpoint, and the
service-account signing key. Written once per control plane, keys 0600."""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "make_pki"]

_VALIDITY = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Pki:
    ca: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    front_proxy_ca: Path
    front_proxy_cert: Path
    front_proxy_key: Path
    kubelet_cert: Path
    kubelet_key: Path
    service_account_key: Path
    service_account_pub: Path


def _write_key(path: Path, key) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _certificate(subject, public_key, issuer, issuer_key, *, ca=False, usage=None, dns=(), ips=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=not ca, key_cert_sign=ca,
                                     crl_sign=ca, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if dns or ips:
        names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _ca(directory: Path, stem: str, common_name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = _certificate(name, key.public_key(), name, key, ca=True)
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(directory / f"{stem}.key", key)
    return cert, key


def _leaf(directory: Path, stem: str, ca, subject: x509.Name, usage, **names) -> None:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(subject, key.public_key(), ca_cert.subject, ca_key, usage=usage, **names)
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(directory / f"{stem}.key", key)


def make_pki(directory: Path) -> Pki:
    """Write every certificate and key the control plane needs under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca(directory, "ca", "runbook-checks sandbox CA")
    loopback = {"ips": ("127.0.0.1",)}
    _leaf(directory, "apiserver", ca, _name("kube-apiserver"), [ExtendedKeyUsageOID.SERVER_AUTH],
          dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"), **loopback)
    _leaf(directory, "kubelet", ca, _name("kwok-kubelet"), [ExtendedKeyUsageOID.SERVER_AUTH],
          dns=("localhost",), **loopback)
    front_proxy = _ca(directory, "front-proxy-ca", "runbook-checks sandbox front-proxy CA")
    _leaf(directory, "front-proxy-client", front_proxy, _name("front-proxy-client"),
          [ExtendedKeyUsageOID.CLIENT_AUTH])
    service_account = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(directory / "sa.key", service_account)
    (directory / "sa.pub").write_bytes(service_account.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return Pki(
        ca=directory / "ca.crt", ca_key=directory / "ca.key",
        apiserver_cert=directory / "apiserver.crt", apiserver_key=directory / "apiserver.key",
        front_proxy_ca=directory / "front-proxy-ca.crt",
        front_proxy_cert=directory / "front-proxy-client.crt", front_proxy_key=directory / "front-proxy-client.key",
        kubelet_cert=directory / "kubelet.crt", kubelet_key=directory / "kubelet.key",
        service_account_key=directory / "sa.key", service_account_pub=directory / "sa.pub",
    )
