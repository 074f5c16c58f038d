"""A service's TLS identity, and the one console it answers (agents and mover services).

At first start the service makes its key, a self-signed certificate and a one-time
enrollment code (files in its TLS directory, mode 0600). The console that adds the
system, given the code by the administrator, reads the service's certificate request
with a proof that the service knows the code (an HMAC keyed with the code over that
request), signs the request with its authority for systems only when the proof holds,
and sends the certificate back with its own proof (keyed with the code over the
certificate and the authority). The code itself never travels, so a host answering at
the service's address without the code gets nothing, and one relaying the real
service's answer gets a certificate for the real service's key that its proof binds.
From then on the service serves with that certificate and accepts only clients that
present a certificate for client use from the same authority — which issues that use to
the console's own identity only (the services' certificates are for server use, so one
host's certificate opens no other host). Another console, or anyone without such a
certificate, is refused during the TLS handshake. Until it is enrolled a service answers
its enrollment routes only. Enrolling again needs the service's directory emptied by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from openlpm.authority import certificate_request, ensure_key, issue_problem, self_signed
from openlpm.errors import NotPermitted, RequestInvalid, WrongState
from openlpm.model import EnrollmentRequest
from openlpm.private import write_private

ENROLLMENT_PATH = "/enrollment"


# The series whose services give no enrollment proof and take the code itself instead.
UNPROVEN_SERIES = ("0.1",)
# Which side an enrollment proof comes from: one side's proof is never the other's.
SERVICE_PROOF = "openlpm enrollment: service"
CONSOLE_PROOF = "openlpm enrollment: console"


class Enrollment(BaseModel):
    """``POST /enrollment``: the console's certificate for the service, the authority
    that signed it, and ``enrollment_proof(code, CONSOLE_PROOF, certificate, authority)``."""

    proof: str = Field(max_length=64)
    certificate: str = Field(max_length=16384)
    authority: str = Field(max_length=16384)


def enrollment_proof(code: str, side: str, *pems: str) -> str:
    """HMAC-SHA256 keyed with the enrollment code over ``side`` and the PEM texts (hex):
    whoever shows it knows the code, for these very texts."""
    message = "\0".join((side, *pems)).encode()
    return hmac.new(code.encode(), message, hashlib.sha256).hexdigest()


def proof_holds(proof: str, code: str, side: str, *pems: str) -> bool:
    return hmac.compare_digest(proof.encode(), enrollment_proof(code, side, *pems).encode())


class ServiceTrust:
    def __init__(self, name: str, what: str, directory: Path, key_name: str,
                 clients: ssl.VerifyMode = ssl.CERT_REQUIRED) -> None:
        """``what`` names the service in messages ("Managed system sys1"); ``key_name``
        the files' stem in ``directory`` (agent.key, agent.crt, ...). ``clients``: once
        enrolled, whether a client must present the console's certificate (agents,
        movers) or may come without one, for the service to decide by a key (the SAN,
        whose hosts call it with a key); a certificate from another authority fails
        the handshake either way."""
        self.name = name
        self.clients = clients
        self.what = what
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.key = directory / f"{key_name}.key"
        self.certificate = directory / f"{key_name}.crt"
        self.console_authority = directory / "console-authority.crt"
        self.code_file = directory / "enrollment-code"
        ensure_key(self.key)
        if not self.certificate.exists():
            write_private(self.certificate, self_signed(self.key.read_bytes(), name).encode())
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

    def enrollment_code(self) -> str | None:
        """The one-time code, while no console enrolled this service."""
        return None if self.enrolled else self.code_file.read_text().strip()

    def certificate_request(self) -> str:
        return certificate_request(self.key.read_bytes(), self.name)

    def enrollment_request(self) -> EnrollmentRequest:
        """``GET /enrollment``: the certificate request, with the proof that this service
        knows its code while no console enrolled it."""
        request = self.certificate_request()
        code = self.enrollment_code()
        return EnrollmentRequest(
            request=request, enrolled=code is None, name=self.name,
            proof="" if code is None else enrollment_proof(code, SERVICE_PROOF, request))

    def enroll(self, proof: str, certificate_pem: str, authority_pem: str) -> None:
        """Take the console's certificate and authority; from now on only it gets in.

        Raises WrongState when a console enrolled this service already, NotPermitted
        when ``proof`` does not show the console knows the code for these very texts,
        RequestInvalid for a certificate its authority did not sign or that is for
        another key.
        """
        if self.enrolled:
            raise WrongState(f"{self.what} already answers its console; to give it to "
                             f"another, empty its TLS directory and restart it.",
                             code="HSCLF507")
        code = self.code_file.read_text().strip()
        if not proof_holds(proof, code, CONSOLE_PROOF, certificate_pem, authority_pem):
            raise NotPermitted(f"Wrong enrollment code for {self.what}: the console's "
                               f"proof does not match this service's code.",
                               code="HSCLF506")
        problem = issue_problem(certificate_pem, authority_pem, self.key.read_bytes())
        if problem is not None:
            raise RequestInvalid(f"{self.what} was sent {problem}.", code="HSCLF508")
        write_private(self.certificate, certificate_pem.encode())
        write_private(self.console_authority, authority_pem.encode())
        self.code_file.unlink(missing_ok=True)
        self.context.load_cert_chain(self.certificate, self.key)
        self._require_console()

    def _require_console(self) -> None:
        self.context.load_verify_locations(cafile=self.console_authority)
        self.context.verify_mode = self.clients


def install_enrollment(app: FastAPI, trust: ServiceTrust) -> None:
    """The enrollment routes; until a console enrolled the service, it answers nothing
    else: whoever reaches the port first must not drive the host."""

    @app.get(ENROLLMENT_PATH)
    async def enrollment_request() -> EnrollmentRequest:
        """The service's certificate request, for the console that adds it."""
        return trust.enrollment_request()

    @app.post(ENROLLMENT_PATH, status_code=204)
    async def enroll(body: Enrollment) -> None:
        trust.enroll(body.proof, body.certificate, body.authority)

    @app.middleware("http")
    async def enrolled_only(request: Request,
                            call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if trust.enrolled or request.url.path == ENROLLMENT_PATH:
            return await call_next(request)
        error = NotPermitted(f"{trust.what} answers nothing but its enrollment until a "
                             f"console adds it with its enrollment code.", code="HSCLF518")
        return JSONResponse(error.to_wire(), status_code=error.http_status)
