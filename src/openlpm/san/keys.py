"""Who may use the SAN's control API: the console, for everything, and the systems'
agents, for their fabric logins and the LUNs they see.

A mapping is zoning: a client that could map LUNs to any WWPN, or log in as one, could
read any disk. The console is known by its client certificate, from the authority that
enrolled the SAN (the SAN's TLS verified it before any request is read). The agents have
no such certificate: they present the hosts key, made at the SAN's first start (an
owner-only file), which the console fetches (``GET /keys/hosts``) and hands to each
agent it manages together with the SAN's address and the authority that certified it.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from openlpm.errors import NotPermitted, NotSignedIn
from openlpm.private import write_private
from openlpm.service import read_key_file

# What a system's agent may ask (FastAPI's path templates).
HOST_CALLS = frozenset({("GET", "/luns"), ("GET", "/luns/{name}"), ("POST", "/logins")})


class SanGuard:
    def __init__(self, directory: Path) -> None:
        """``directory``: where the hosts key is kept (``hosts.key``, made if missing)."""
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.hosts_key_file = directory / "hosts.key"
        if not self.hosts_key_file.exists():
            write_private(self.hosts_key_file, (secrets.token_urlsafe(32) + "\n").encode())
        self.hosts_key = read_key_file(self.hosts_key_file)

    def check(self, certificate: str | None, authorization: str | None, method: str,
              path: str) -> None:
        """Let the console (a verified client certificate for client use) make every
        call, and the hosts key the calls of ``HOST_CALLS``.

        Raises NotSignedIn for a caller with neither, NotPermitted for the hosts key on
        a call only the console may make.
        """
        if certificate is not None and _for_clients(certificate):
            return
        scheme, _, given = (authorization or "").partition(" ")
        if not (scheme.lower() == "bearer"
                and hmac.compare_digest(given.encode(), self.hosts_key.encode())):
            raise NotSignedIn(
                "The SAN's control API answers its console (by its client certificate) "
                "and the systems the console gave the SAN's hosts key to; this caller "
                "is neither: add the system to the console that connected the SAN.",
                code="HSCLF606")
        if (method, path) not in HOST_CALLS:
            raise NotPermitted(
                f"A system (the SAN's hosts key) may not {method} {path} on the SAN: LUNs "
                f"and mappings are changed through the console.", code="HSCLF607")


def _for_clients(certificate_pem: str) -> bool:
    """Whether a certificate is the console's: for client use only. A system's own is
    for server use; one an older console issued names both uses, and must not open the
    SAN to root on that system."""
    try:
        usage = x509.load_pem_x509_certificate(certificate_pem.encode()).extensions \
            .get_extension_for_class(x509.ExtendedKeyUsage).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    return list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
