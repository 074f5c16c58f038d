"""The console's own TLS identity: what its API answers with over HTTPS.

A key made once and a certificate signed by it for the console's name and every address
it answers on (made again when those change). Its clients trust it by pinning it: the
command line through ``$OPENLPM_HMC_CA`` (the lab sets it), other consoles by keeping
the certificate they met when keys were exchanged (``mkauthkeys``).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from openlpm.authority import ensure_key, fingerprint, self_signed, subject_addresses
from openlpm.private import private_directory, write_private


class ConsoleIdentity:
    def __init__(self, directory: Path, name: str, addresses: tuple[str, ...]) -> None:
        # Made 0700 again if it was not: it holds the console's key.
        private_directory(directory)
        self.key = directory / "console.key"
        self.certificate = directory / "console.crt"
        ensure_key(self.key)
        wanted = tuple(dict.fromkeys((name, *addresses)))
        if not self.certificate.exists() or \
                subject_addresses(self.certificate.read_text()) != set(wanted):
            write_private(self.certificate,
                          self_signed(self.key.read_bytes(), name, wanted).encode())
        self.certificate.chmod(0o644)
        self.fingerprint = fingerprint(self.certificate.read_text())

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certificate, self.key)
        return context
