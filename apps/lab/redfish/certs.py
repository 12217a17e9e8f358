"""Self-signed TLS certificates of the lab BMCs' Redfish faces (one per BMC, SAN 127.0.0.1).

Each certificate and its key live in one PEM file, ``<state dir>/<bmc name>.pem``, made once and
kept, so a client that recorded a BMC's fingerprint still trusts it after a lab restart. The
certificate is its own trust anchor: a client verifies against the PEM's certificate part.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def fingerprint(cert_der: bytes) -> str:
    """SHA-256 of the DER certificate, lower-case hex (as Heatsite pins agent certificates)."""
    return hashlib.sha256(cert_der).hexdigest()


def make_certificate(common_name: str) -> tuple[bytes, bytes]:
    """A new ECDSA P-256 key and self-signed certificate; returns (key PEM, certificate PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Heatsite Lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        # a self-signed certificate that is its own trust anchor must be allowed to sign itself
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


class BmcCertificate:
    """One BMC's PEM file (key + certificate) and what clients need: path and fingerprint."""

    def __init__(self, path: Path):
        self.path = Path(path)
        text = self.path.read_text(encoding="ascii")
        start = text.index("-----BEGIN CERTIFICATE-----")
        self.cert_pem = text[start:]
        self.fingerprint = fingerprint(ssl.PEM_cert_to_DER_cert(self.cert_pem))

    @property
    def cert_path(self) -> Path:
        """A file holding only this certificate (for a client's ``verify=``), named by its
        fingerprint, so a renewed certificate never rewrites what a client already trusts."""
        path = self.path.with_name(f"{self.path.stem}.{self.fingerprint[:16]}.crt")
        if not path.exists():
            path.write_text(self.cert_pem, encoding="ascii")
        return path

    @classmethod
    def ensure(cls, state_dir: Path, name: str, *, renew: bool = False) -> BmcCertificate:
        """The BMC's certificate, made on first use (or anew with ``renew``)."""
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / f"{SAFE_NAME.sub('_', name)}.pem"
        if renew or not path.exists():
            key_pem, cert_pem = make_certificate(name)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key_pem + cert_pem)
            tmp.replace(path)
        return cls(path)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.path)
        return context
