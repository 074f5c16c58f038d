"""The SAN's fabric: who is who, by certificate.

A WWPN (NPIV) or a managed system's I/O service (vSCSI) logs in by sending a certificate
request for a key it made itself; the fabric answers with a certificate naming it. A
certificate says who a client is, not what it may reach: only a LUN's mappings decide
that, when the client connects to its export.
"""

from __future__ import annotations

from pathlib import Path

from openlpm.authority import CertificateAuthority, certificate_request, ensure_key
from openlpm.model import FabricCredentials, FabricLogin
from openlpm.private import write_private


class Fabric:
    def __init__(self, name: str, directory: Path, data_host: str) -> None:
        self.authority = CertificateAuthority(directory / "authority", f"{name} fabric authority")
        self.server_credentials = directory / "server"
        self._issue_server_certificate(name, data_host)

    def login(self, login: FabricLogin) -> FabricCredentials:
        return FabricCredentials(
            certificate=self.authority.issue(login.request, login.identity),
            authority=self.authority.certificate_pem)

    def _issue_server_certificate(self, name: str, data_host: str) -> None:
        """The exports' own certificate, naming the address clients connect to (QEMU
        checks it); made again at each start, so a changed address is never stale."""
        directory = self.server_credentials
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = directory / "server-key.pem"
        ensure_key(key)
        certificate = self.authority.issue(certificate_request(key.read_bytes(), name), name,
                                           addresses=(data_host,))
        write_private(directory / "server-cert.pem", certificate.encode())
        write_private(directory / "ca-cert.pem", self.authority.certificate_pem.encode())
