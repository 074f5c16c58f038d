"""Who may use the SAN's control API: the console, for everything, and the systems'
agents, for their fabric logins and the LUNs they see, each kind by a key of its own.

A mapping is zoning: a client that could map LUNs to any WWPN, or log in as one, could
read any disk. The keys are made at the SAN's first start, owner-only files that the
site's administrator copies to the console (``console.key``) and the agents
(``hosts.key``).
"""

from __future__ import annotations

import hmac
import secrets
from enum import StrEnum
from pathlib import Path

from openlpm.errors import NotPermitted, NotSignedIn
from openlpm.private import write_private
from openlpm.service import read_key_file


class KeyHolder(StrEnum):
    CONSOLE = "console"
    HOSTS = "hosts"


# What a system's agent may ask (FastAPI's path templates).
HOST_CALLS = frozenset({("GET", "/luns"), ("GET", "/luns/{name}"), ("POST", "/logins")})


class SanKeys:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._keys = {holder: self._ensure(holder) for holder in KeyHolder}

    def path(self, holder: KeyHolder) -> Path:
        return self.directory / f"{holder}.key"

    def check(self, authorization: str | None, method: str, path: str) -> None:
        """Raises NotSignedIn without a valid key, NotPermitted for an agent's key on a
        call only the console may make."""
        scheme, _, given = (authorization or "").partition(" ")
        holder = next((h for h, key in self._keys.items() if scheme.lower() == "bearer"
                       and hmac.compare_digest(given.encode(), key.encode())), None)
        if holder is None:
            raise NotSignedIn(
                "The SAN's control API takes requests with one of its keys only (the "
                "console's console.key, the agents' hosts.key, in the SAN's key directory): "
                "give it with --san-key-file.", code="HSCLF606")
        if holder == KeyHolder.HOSTS and (method, path) not in HOST_CALLS:
            raise NotPermitted(
                f"A system's key (hosts.key) may not {method} {path} on the SAN: LUNs and "
                f"mappings are changed through the console.", code="HSCLF607")

    def _ensure(self, holder: KeyHolder) -> str:
        path = self.path(holder)
        if not path.exists():
            write_private(path, (secrets.token_urlsafe(32) + "\n").encode())
        return read_key_file(path)
