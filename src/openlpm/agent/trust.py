"""The agent's TLS identity, and the one console it answers.

At first start the agent makes its key, a self-signed certificate and a one-time
enrollment code (files in its TLS directory, mode 0600). The console that adds the
system reads the agent's certificate request, signs it with its authority, and sends
the certificate back with the code: from then on the agent serves with that certificate
and accepts only clients that present a certificate from the same authority — its
console. Another console, or anyone without such a certificate, is refused during the
TLS handshake. Enrolling again needs the agent's directory emptied by hand.
"""

from __future__ import annotations

import hmac
import secrets
import ssl
from pathlib import Path

from openlpm.authority import certificate_request, ensure_key, issue_problem, self_signed
from openlpm.errors import NotPermitted, RequestInvalid, WrongState
from openlpm.private import write_private


class AgentTrust:
    def __init__(self, system: str, directory: Path) -> None:
        self.system = system
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.key = directory / "agent.key"
        self.certificate = directory / "agent.crt"
        self.console_authority = directory / "console-authority.crt"
        self.code_file = directory / "enrollment-code"
        ensure_key(self.key)
        if not self.certificate.exists():
            write_private(self.certificate,
                          self_signed(self.key.read_bytes(), system).encode())
        if not self.enrolled and not self.code_file.exists():
            write_private(self.code_file, (secrets.token_urlsafe(16) + "\n").encode())
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3
        self.context.load_cert_chain(self.certificate, self.key)
        if self.enrolled:
            self._require_console()

    @property
    def enrolled(self) -> bool:
        return self.console_authority.exists()

    def certificate_request(self) -> str:
        return certificate_request(self.key.read_bytes(), self.system)

    def enroll(self, code: str, certificate_pem: str, authority_pem: str) -> None:
        """Take the console's certificate and authority; from now on only it gets in.

        Raises WrongState when a console enrolled this agent already, NotPermitted for a
        wrong code, RequestInvalid for a certificate its authority did not sign or that
        is for another key.
        """
        if self.enrolled:
            raise WrongState(f"Managed system {self.system} already answers its console; "
                             f"to give it to another, empty its TLS directory and restart "
                             f"its agent.", code="HSCLF507")
        expected = self.code_file.read_text().strip()
        if not hmac.compare_digest(code.encode(), expected.encode()):
            raise NotPermitted(f"Wrong enrollment code for managed system {self.system}.",
                               code="HSCLF506")
        problem = issue_problem(certificate_pem, authority_pem, self.key.read_bytes())
        if problem is not None:
            raise RequestInvalid(f"Managed system {self.system} was sent {problem}.",
                                 code="HSCLF508")
        write_private(self.certificate, certificate_pem.encode())
        write_private(self.console_authority, authority_pem.encode())
        self.code_file.unlink(missing_ok=True)
        self.context.load_cert_chain(self.certificate, self.key)
        self._require_console()

    def _require_console(self) -> None:
        self.context.load_verify_locations(cafile=self.console_authority)
        self.context.verify_mode = ssl.CERT_REQUIRED
