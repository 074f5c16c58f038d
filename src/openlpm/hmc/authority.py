"""The console's certificate authority: it vouches for the mover services of its systems.

When a system is added, each of its mover services sends a certificate request for the
key it made itself (the key never leaves the mover); the console signs it. Movers then
accept a stream only from a peer whose certificate this authority signed.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openlpm.errors import RequestInvalid
from openlpm.private import write_private

AUTHORITY_YEARS = 10
CERTIFICATE_DAYS = 397


def fingerprint(certificate_pem: str) -> str:
    """SHA-256 of a certificate, as ``openssl x509 -fingerprint -sha256`` shows it."""
    digest = x509.load_pem_x509_certificate(certificate_pem.encode()).fingerprint(
        hashes.SHA256())
    return ":".join(f"{byte:02X}" for byte in digest)


class CertificateAuthority:
    def __init__(self, directory: Path, console: str) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_path, certificate_path = directory / "authority.key", directory / "authority.crt"
        if not key_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            write_private(key_path, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            certificate_path.write_bytes(_self_signed(key, console).public_bytes(
                serialization.Encoding.PEM))
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        self._key = loaded
        self._certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
        self.certificate_pem = certificate_path.read_text()
        self.fingerprint = fingerprint(self.certificate_pem)

    def issue(self, request_pem: str, name: str) -> str:
        """Sign a mover's certificate request, for the name the console knows it by."""
        try:
            request = x509.load_pem_x509_csr(request_pem.encode())
        except ValueError as exc:
            raise RequestInvalid(f"Mover service {name} sent an unreadable certificate "
                                 f"request: {exc}", code="HSCLF171") from None
        if not request.is_signature_valid:
            raise RequestInvalid(f"The certificate request of mover service {name} is not "
                                 f"signed by its own key.", code="HSCLF171")
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._certificate.subject)
            .public_key(request.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(self._key, hashes.SHA256()))
        return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _self_signed(key: ec.EllipticCurvePrivateKey, console: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openlpm"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{console} mover authority")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365 * AUTHORITY_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))

