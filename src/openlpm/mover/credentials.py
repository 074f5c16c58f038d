"""A mover service's key, the certificate its console issued for it, and the console's CA.

The key is made here and never leaves the mover: the console receives a certificate
request and answers with a certificate. Streams between movers are TLS 1.3 with both
sides presenting such a certificate; a peer whose certificate the same console did not
sign is refused during the handshake, unless it comes from the authority of a console
this one exchanged keys with (``mkauthkeys``): then a stream may cross the two consoles.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from openlpm.authority import certificate_request, ensure_key, issue_problem
from openlpm.errors import RequestInvalid, WrongState
from openlpm.model import MoverCertificate
from openlpm.private import write_private


class MoverCredentials:
    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._key_path = directory / "mover.key"
        self._certificate_path = directory / "mover.crt"
        self._authority_path = directory / "authority.crt"
        ensure_key(self._key_path)
        self._contexts: tuple[ssl.SSLContext, ssl.SSLContext] | None = None

    def certificate_request(self) -> str:
        return certificate_request(self._key_path.read_bytes(), self.name)

    def install(self, certificate_pem: str, authority_pem: str,
                trusted: tuple[str, ...] = ()) -> MoverCertificate:
        """Keep a certificate the console issued, after checking it is for our key;
        peers certified by its authority or by one of ``trusted`` are accepted."""
        problem = issue_problem(certificate_pem, authority_pem, self._key_path.read_bytes())
        if problem is not None:
            raise RequestInvalid(f"Mover service {self.name} was sent {problem}.",
                                 code="HSCLF144")
        write_private(self._authority_path, "".join(
            pem if pem.endswith("\n") else pem + "\n"
            for pem in (authority_pem, *trusted)).encode())
        write_private(self._certificate_path, certificate_pem.encode())
        self._contexts = None
        return self._describe()

    def describe(self) -> MoverCertificate | None:
        return self._describe() if self._certificate_path.exists() else None

    def _describe(self) -> MoverCertificate:
        certificate = x509.load_pem_x509_certificate(self._certificate_path.read_bytes())
        authority = x509.load_pem_x509_certificate(self._authority_path.read_bytes())
        return MoverCertificate(
            subject=certificate.subject.rfc4514_string(),
            authority=authority.subject.rfc4514_string(),
            authority_fingerprint=":".join(
                f"{byte:02X}" for byte in authority.fingerprint(hashes.SHA256())),
            expires=certificate.not_valid_after_utc.timestamp())

    def contexts(self) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        """(server, client) TLS contexts for streams: TLS 1.3 only, both sides certified."""
        if self._contexts is None:
            if not self._certificate_path.exists():
                raise WrongState(
                    f"Mover service {self.name} holds no certificate from its console, so "
                    f"it cannot carry an encrypted stream. Issue one with 'openlpm mover "
                    f"enroll -m SYSTEM' on the console.", code="HSCLF143")
            self._contexts = (self._context(ssl.Purpose.CLIENT_AUTH),
                              self._context(ssl.Purpose.SERVER_AUTH))
        return self._contexts

    def _context(self, purpose: ssl.Purpose) -> ssl.SSLContext:
        server = purpose == ssl.Purpose.CLIENT_AUTH
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(self._certificate_path, self._key_path)
        context.load_verify_locations(cafile=self._authority_path)
        context.verify_mode = ssl.CERT_REQUIRED
        # Movers are known by certificate, not by host name: any mover the console
        # certified may carry a stream, and the migration's token says which one.
        context.check_hostname = False
        if server:
            context.num_tickets = 0
        return context

