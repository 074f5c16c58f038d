"""A small certificate authority: a key, a self-signed certificate, and signing requests.

The console keeps one for the mover services of its systems: when a system is added,
each of its movers sends a certificate request for the key it made itself (the key never
leaves the mover) and movers then accept a stream only from a peer this authority
signed. The SAN keeps one for its fabric: each WWPN (or host) that logs in gets a
certificate naming it, and an export lets in only the names mapped to its LUN.
"""

from __future__ import annotations

import datetime
import enum
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openlpm.errors import RequestInvalid
from openlpm.private import private_directory, write_private

AUTHORITY_YEARS = 10
CERTIFICATE_DAYS = 397


class Use(enum.Enum):
    """What a certificate may prove: a server's identity, a client's, or both (a mover's
    stream, where either side may connect)."""

    SERVER = (ExtendedKeyUsageOID.SERVER_AUTH,)
    CLIENT = (ExtendedKeyUsageOID.CLIENT_AUTH,)
    BOTH = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)


def fingerprint(certificate_pem: str) -> str:
    """SHA-256 of a certificate, as ``openssl x509 -fingerprint -sha256`` shows it."""
    digest = x509.load_pem_x509_certificate(certificate_pem.encode()).fingerprint(
        hashes.SHA256())
    return ":".join(f"{byte:02X}" for byte in digest)


def ensure_key(path: Path) -> None:
    """A private key (ECDSA P-256, PEM, mode 0600) at ``path``, made unless one is there."""
    if not path.exists():
        write_private(path, ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))


def certificate_request(key_pem: bytes, name: str) -> str:
    """A certificate request for ``key_pem``'s public key, signed by that key."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .sign(key, hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.PEM).decode()


class CertificateAuthority:
    def __init__(self, directory: Path, title: str) -> None:
        """``title`` names the authority in its certificate, for instance "hmc1 mover
        authority"; it is used only when the authority is first made."""
        self.directory = directory
        private_directory(directory)
        key_path, certificate_path = directory / "authority.key", directory / "authority.crt"
        ensure_key(key_path)
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        self._key = loaded
        if not certificate_path.exists():
            certificate_path.write_bytes(_self_signed(loaded, title).public_bytes(
                serialization.Encoding.PEM))
        self._certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
        self.certificate_pem = certificate_path.read_text()
        self.fingerprint = fingerprint(self.certificate_pem)

    def issue(self, request_pem: str, name: str, addresses: tuple[str, ...] = (),
              use: Use = Use.BOTH) -> str:
        """Sign a certificate request, for the name this authority knows its sender by.

        ``addresses`` are the IP addresses or host names a server answers on, for
        clients that check them (QEMU's TLS and HTTPS clients do). ``use``: OpenSSL
        refuses a certificate presented for a use it does not name.
        """
        try:
            request = x509.load_pem_x509_csr(request_pem.encode())
        except ValueError as exc:
            raise RequestInvalid(f"{name} sent an unreadable certificate request: {exc}",
                                 code="HSCLF171") from None
        if not request.is_signature_valid:
            raise RequestInvalid(f"The certificate request of {name} is not signed by its "
                                 f"own key.", code="HSCLF171")
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
            .add_extension(x509.ExtendedKeyUsage(list(use.value)), critical=False))
        if addresses:
            certificate = certificate.add_extension(x509.SubjectAlternativeName(
                [_general_name(a) for a in addresses]), critical=False)
        return certificate.sign(self._key, hashes.SHA256()).public_bytes(
            serialization.Encoding.PEM).decode()


def issue_problem(certificate_pem: str, authority_pem: str, key_pem: bytes) -> str | None:
    """Why a certificate sent to a key's owner is not for it from that authority (None
    when it is): what a mover or an agent checks before keeping one."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        authority = x509.load_pem_x509_certificate(authority_pem.encode())
        certificate.verify_directly_issued_by(authority)
    except (ValueError, TypeError, InvalidSignature) as exc:
        return f"a certificate its authority did not sign: {exc}"
    key = serialization.load_pem_private_key(key_pem, password=None)
    if certificate.public_key() != key.public_key():
        return "a certificate for another key"
    return None


def client_context(authority: CertificateAuthority, directory: Path, name: str) \
        -> ssl.SSLContext:
    """TLS 1.3 client context of the authority's owner: it trusts only servers the
    authority certified, and presents its own certificate from it (made once, kept in
    ``directory``)."""
    key, certificate = directory / "client.key", directory / "client.crt"
    ensure_key(key)
    if not certificate.exists():
        write_private(certificate, authority.issue(
            certificate_request(key.read_bytes(), name), name, use=Use.CLIENT).encode())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cadata=authority.certificate_pem)
    context.load_cert_chain(certificate, key)
    return context


def _general_name(address: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(address))
    except ValueError:
        return x509.DNSName(address)


def self_signed(key_pem: bytes, name: str, addresses: tuple[str, ...] = ()) -> str:
    """A certificate for ``key_pem`` signed by itself: a server's until it is enrolled,
    or one its clients trust by pinning it. ``addresses``: as for ``issue``."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder()
                   .subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS)))
    if addresses:
        certificate = certificate.add_extension(x509.SubjectAlternativeName(
            [_general_name(a) for a in addresses]), critical=False)
    return certificate.sign(key, hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM).decode()


def subject_addresses(certificate_pem: str) -> set[str]:
    """The IP addresses and host names a certificate is for."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    try:
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n.value) for n in names}


def _self_signed(key: ec.EllipticCurvePrivateKey, title: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openlpm"),
                      x509.NameAttribute(NameOID.COMMON_NAME, title)])
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

