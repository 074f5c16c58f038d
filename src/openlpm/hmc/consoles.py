"""The other consoles this one exchanged keys with (``mkauthkeys``), both ways.

A *remote console* is one this console may act on: it holds an API token the remote
issued to one of its users, and acts there with that user's role. A *peer* is a console
that exchanged keys with this one: its movers' authority is trusted by this console's
movers, so that a stream may come from (or go to) a system it manages. An exchange
makes both: the remote console on the side that asked, the peer on both sides.

The tokens for remote consoles are secrets of those consoles, kept in this console's
database (never shown, never logged), as an HMC keeps the keys ``mkauthkeys`` made. The
certificate a remote console answered with when keys were exchanged is kept too: later
calls trust that certificate only (as ssh trusts the host key it met first).
"""

from __future__ import annotations

import time
from pathlib import Path

from openlpm.authority import fingerprint
from openlpm.errors import ObjectNotFound, RequestInvalid
from openlpm.hmc.database import open_database
from openlpm.model import RemoteConsole

SCHEMA = """
CREATE TABLE IF NOT EXISTS remote_consoles (
    name TEXT NOT NULL, url TEXT NOT NULL, user TEXT NOT NULL, token TEXT NOT NULL,
    added REAL NOT NULL, mover_authority TEXT NOT NULL, certificate TEXT,
    PRIMARY KEY (name, user));
CREATE TABLE IF NOT EXISTS peers (
    name TEXT PRIMARY KEY, mover_authority TEXT NOT NULL, added REAL NOT NULL);
"""
DEFAULT_PORT = 8480


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


class Consoles:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add_remote(self, name: str, url: str, user: str, token: str,
                   mover_authority: str, certificate: str | None) -> RemoteConsole:
        self._db.execute(
            "INSERT OR REPLACE INTO remote_consoles (name, url, user, token, added, "
            "mover_authority, certificate) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, url, user, token, time.time(), mover_authority, certificate))
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
        return str(row[0]), row[1]

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
