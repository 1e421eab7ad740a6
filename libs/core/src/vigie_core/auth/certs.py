"""Certificates: a development CA, server and client certificates (`vigie certs`), and the
identity a verified client certificate carries.

A client certificate names its caller in the subject CN and its roles in the subject O
(organization) entries, as Kubernetes does for users and groups; unknown O values are ignored.
Only certificates signed by the CA in VIGIE_TLS_CLIENT_CA_FILE are ever looked at (the TLS
layer verifies them first). Keys are ECDSA P-256 in PKCS#8 PEM (what gRPC, OpenSSL, Java/Kafka
and librdkafka all read), written mode 0600.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vigie_core.auth.model import ROLES, Identity, check_roles


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600 if private else 0o644)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def create_ca(directory: Path, name: str = "Vigie development CA",
              days: int = 3650) -> Issued:
    """ca.crt and ca.key in `directory` (refuses to overwrite an existing CA key)."""
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if key_path.exists():
        raise FileExistsError(f"{key_path} exists: a CA is never replaced by accident")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return Issued(cert_path, key_path)


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key made by `vigie certs ca`")
    return cert, key


def issue(directory: Path, name: str, *, server_names: Sequence[str] = (),
          role_names: Iterable[str] = (), client: bool = True, days: int = 365,
          out_dir: Path | None = None) -> Issued:
    """<name>.crt and <name>.key signed by the CA in `directory`.

    server_names: DNS names and IP addresses the certificate serves (a server certificate);
    role_names: O entries (the roles of its holder as a client); client: usable as a client
    certificate (a service's certificate usually serves and calls)."""
    if not name or any(c in name for c in "/\\\0") or name.startswith("."):
        raise ValueError("name: a file name without slashes")
    granted = sorted(check_roles(role_names)) if role_names else []
    if not server_names and not client:
        raise ValueError("a certificate must serve, or identify a client, or both")
    ca_cert, ca_key = _load_ca(directory)
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, r) for r in granted]
    now = datetime.now(UTC)
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server_names else []) + \
        ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    builder = (x509.CertificateBuilder().subject_name(x509.Name(attributes))
               .issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5))
               .not_valid_after(min(now + timedelta(days), ca_cert.not_valid_after_utc))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False,
                                            crl_sign=False, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if server_names:
        alt: list[x509.GeneralName] = []
        for host in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alt.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    out = out_dir or directory
    issued = Issued(out / f"{name}.crt", out / f"{name}.key")
    _write(issued.key, _key_pem(key), private=True)
    _write(issued.cert, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return issued


def identity_of(cert: x509.Certificate) -> Identity:
    subject = cert.subject
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else ""
    granted = frozenset(str(a.value) for a in
                        subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)) & ROLES
    return Identity(f"cert:{cn or '?'}", granted, "certificate",
                    credential_id=f"{cert.serial_number:x}")


@lru_cache(maxsize=256)
def identity_from_pem(pem: bytes) -> Identity:
    return identity_of(x509.load_pem_x509_certificate(pem))


@lru_cache(maxsize=256)
def identity_from_der(der: bytes) -> Identity:
    return identity_of(x509.load_der_x509_certificate(der))
