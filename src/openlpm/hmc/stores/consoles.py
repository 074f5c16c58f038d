"""The other consoles this one exchanged keys with (``mkauthkeys``), both ways.

A *remote console* is one this console may act on: it holds an API token the remote
issued to one of its users, and acts there with that user's role. A *peer* is a console
that exchanged keys with this one: its movers' authority is trusted by this console's
movers, so that a stream may come from (or go to) a system it manages. An exchange
makes both: the remote console on the side that asked, the peer on both sides.

The tokens for remote consoles are secrets of those consoles, kept in this console's
database (never shown, never logged), as an HMC keeps the keys ``mkauthkeys`` made:
sealed (AES-GCM) with a key of their own, in a file beside the database (0600), so a
copy of the database alone acts on no other console. The certificate a remote console
answered with when keys were exchanged is kept too: later calls trust that certificate
only (as ssh trusts the host key it met first).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openlpm.authority import fingerprint
from openlpm.errors import ObjectNotFound, RequestInvalid, WrongState
from openlpm.hmc.stores.database import open_database
from openlpm.model import RemoteConsole
from openlpm.private import write_private

SCHEMA = """
CREATE TABLE IF NOT EXISTS remote_consoles (
    name TEXT NOT NULL, url TEXT NOT NULL, user TEXT NOT NULL, token TEXT NOT NULL,
    added REAL NOT NULL, mover_authority TEXT NOT NULL, certificate TEXT,
    PRIMARY KEY (name, user));
CREATE TABLE IF NOT EXISTS peers (
    name TEXT PRIMARY KEY, mover_authority TEXT NOT NULL, added REAL NOT NULL);
"""
DEFAULT_PORT = 8480
# How a sealed token begins in the database; one without it was stored in the clear.
SEALED = "sealed1:"


def console_url(ip: str) -> str:
    """The API address of the console that ``--ip`` names: a host, host:port, or URL."""
    if "://" in ip:
        if not ip.startswith("https://"):
            raise RequestInvalid(f"--ip {ip}: consoles answer each other over HTTPS only "
                                 f"(a password and keys cross): give the console's host, "
                                 f"host:port or https:// URL.", code="HSCLF540")
        return ip.rstrip("/")
    host, _, port = ip.rpartition(":") if ip.count(":") == 1 else (ip, "", "")
    return f"https://{host}:{port}" if port else f"https://{ip}:{DEFAULT_PORT}"


def token_key_file(database: Path) -> Path:
    """Where the key that seals the tokens of ``database`` is kept: beside it."""
    return database.with_name(f"{database.stem}-tokens.key")


class TokenSeal:
    """Other consoles' tokens as the database keeps them: each sealed with this
    console's token key, bound to its remote console and user."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        if not key_file.exists():
            write_private(key_file, base64.b64encode(secrets.token_bytes(32)) + b"\n")
        try:
            self._aead = AESGCM(base64.b64decode(key_file.read_bytes().strip(),
                                                 validate=True))
        except (binascii.Error, ValueError):
            raise WrongState(f"The token key {key_file} is not a key (32 bytes, base64). "
                             f"Restore it, or remove it and exchange keys with every "
                             f"remote console again (mkauthkeys).", code="HSCLF548") from None

    def seal(self, token: str, name: str, user: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, token.encode(), _bound(name, user))
        return SEALED + base64.b64encode(nonce + sealed).decode()

    def open(self, stored: str, name: str, user: str) -> str:
        """The token ``stored`` holds (sealed, or in the clear as once kept).

        Raises WrongState (HSCLF548) when this key did not seal it.
        """
        if not stored.startswith(SEALED):
            return stored
        raw = base64.b64decode(stored.removeprefix(SEALED))
        try:
            return self._aead.decrypt(raw[:12], raw[12:], _bound(name, user)).decode()
        except InvalidTag:
            raise WrongState(
                f"The keys for user {user} of console {name} were sealed with another "
                f"token key than {self.key_file}: restore that file, or exchange keys "
                f"again with 'mkauthkeys --ip {name} -u {user}'.", code="HSCLF548") from None


def _bound(name: str, user: str) -> bytes:
    """What a sealed token is bound to: moved to another row, it does not open."""
    return f"{name}\0{user}".encode()


class Consoles:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path, SCHEMA)
        self._seal = TokenSeal(token_key_file(path))
        self._seal_clear_tokens()

    def close(self) -> None:
        self._db.close()

    def add_remote(self, name: str, url: str, user: str, token: str,
                   mover_authority: str, certificate: str | None) -> RemoteConsole:
        self._db.execute(
            "INSERT OR REPLACE INTO remote_consoles (name, url, user, token, added, "
            "mover_authority, certificate) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, url, user, self._seal.seal(token, name, user), time.time(),
             mover_authority, certificate))
        self.add_peer(name, mover_authority)
        return self.remote(name, user)

    def remotes(self) -> list[RemoteConsole]:
        rows = self._db.execute("SELECT name, url, user, added, mover_authority, "
                                "certificate FROM remote_consoles ORDER BY name, user")
        return [RemoteConsole(name=n, url=u, user=us, added=a,
                              mover_authority_fingerprint=fingerprint(pem),
                              certificate_fingerprint=fingerprint(c) if c else None)
                for n, u, us, a, pem, c in rows]

    def find(self, ip: str, user: str | None) -> list[RemoteConsole]:
        """The remote consoles ``--ip`` names (by name or address), for ``user`` if given."""
        url = console_url(ip)
        return [r for r in self.remotes() if (ip == r.name or url == r.url)
                and user in (None, r.user)]

    def remote(self, name: str, user: str) -> RemoteConsole:
        found = [r for r in self.remotes() if r.name == name and r.user == user]
        if not found:
            raise ObjectNotFound(f"This console holds no keys for user {user} of console "
                                 f"{name}.", code="HSCLF521")
        return found[0]

    def credentials(self, remote: RemoteConsole) -> tuple[str, str | None]:
        """(the token, the pinned certificate) this console uses with ``remote``."""
        row = self._db.execute("SELECT token, certificate FROM remote_consoles WHERE "
                               "name = ? AND user = ?", (remote.name, remote.user)).fetchone()
        if row is None:
            raise ObjectNotFound(f"This console holds no keys for user {remote.user} of "
                                 f"console {remote.name}.", code="HSCLF521")
        return self._seal.open(str(row[0]), remote.name, remote.user), row[1]

    def remove_remote(self, name: str, user: str) -> None:
        self.remote(name, user)
        self._db.execute("DELETE FROM remote_consoles WHERE name = ? AND user = ?",
                         (name, user))

    def add_peer(self, name: str, mover_authority: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO peers (name, mover_authority, added) "
                         "VALUES (?, ?, ?)", (name, mover_authority, time.time()))

    def peer_authorities(self) -> tuple[str, ...]:
        """The mover authorities of every peer, which this console's movers trust."""
        return tuple(pem for (pem,) in self._db.execute(
            "SELECT mover_authority FROM peers ORDER BY name"))

    def _seal_clear_tokens(self) -> None:
        """Seal the tokens an older console kept in the clear; the pages they were on
        are overwritten (secure_delete), not left to be read from the file."""
        self._db.execute("PRAGMA secure_delete = ON")
        rows = self._db.execute("SELECT name, user, token FROM remote_consoles").fetchall()
        for name, user, token in rows:
            if not token.startswith(SEALED):
                self._db.execute(
                    "UPDATE remote_consoles SET token = ? WHERE name = ? AND user = ?",
                    (self._seal.seal(token, name, user), name, user))
