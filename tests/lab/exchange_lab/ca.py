"""The lab's certificate authority: stands in for the organisation's CA and signs the lab's own TLS certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_SUBJECT = "Exchange Lab Root CA"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _san_entries(names: list[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return entries


class LabCA:
    """A root CA kept in ``<state>/ca/``: ``ca.pem`` (the bundle clients pass as ``ca_trust_path``) and ``ca.key``."""

    def __init__(self, state_dir: str | os.PathLike):
        self.directory = Path(state_dir) / "ca"
        self.bundle_path = self.directory / "ca.pem"
        self.key_path = self.directory / "ca.key"
        if self.bundle_path.exists() and self.key_path.exists():
            self.certificate = x509.load_pem_x509_certificate(self.bundle_path.read_bytes())
            self.key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        else:
            self._create()

    def _create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_SUBJECT), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Exchange Lab")])
        now = _now()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        _write_private(self.key_path, self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.bundle_path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    @property
    def issuer_name(self) -> x509.Name:
        return self.certificate.subject

    def sign_csr(self, csr: x509.CertificateSigningRequest, days: int = 365) -> x509.Certificate:
        """Issue a server certificate for a PKCS#10 request, keeping its subject and SANs (as an enterprise CA does)."""
        if not csr.is_signature_valid:
            raise ValueError("the certificate request's signature is not valid")
        try:
            sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            sans = None
        return self._issue(csr.subject, csr.public_key(), sans, days)

    def issue(self, names: list[str], days: int = 365, key_size: int = 2048) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        """A new key and a server certificate for ``names`` (the first is the common name)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        return self._issue(subject, key.public_key(), x509.SubjectAlternativeName(_san_entries(names)), days), key

    def _issue(self, subject, public_key, sans, days: int) -> x509.Certificate:
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.issuer_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if sans is not None:
            builder = builder.add_extension(sans, critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def server_credentials(self, names: list[str], stem: str) -> tuple[Path, Path]:
        """PEM certificate and key files for a lab listener (made once, reused across restarts)."""
        cert_path = self.directory / f"{stem}.pem"
        key_path = self.directory / f"{stem}.key"
        if not (cert_path.exists() and key_path.exists()):
            certificate, key = self.issue(names, days=825)
            cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
            _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cert_path, key_path
