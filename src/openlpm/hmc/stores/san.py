"""The console's SAN connection (``mksysconn -r san``): where it answers, what it said
of itself, and the hosts key the console hands to its systems' agents.

The hosts key is a secret of the SAN: it is sealed like other consoles' tokens
(``consoles.TokenSeal``, the token key beside the database), bound to the SAN's URL, so
a copy of the database alone reaches no LUN.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openlpm.hmc.stores.consoles import TokenSeal, token_key_file
from openlpm.hmc.stores.database import open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS san_connection (
    id INTEGER PRIMARY KEY CHECK (id = 1), url TEXT NOT NULL, name TEXT NOT NULL,
    version TEXT NOT NULL, hosts_key TEXT);
"""
# What the seal binds a hosts key to, besides the SAN's URL.
SEAL_NAME = "san"


@dataclass(frozen=True)
class StoredSan:
    url: str
    name: str
    version: str
    hosts_key: str | None


class SanStore:
    """At most one SAN per console, as the lab and a site have one storage fabric."""

    def __init__(self, path: Path) -> None:
        self._db = open_database(path, SCHEMA)
        self._seal = TokenSeal(token_key_file(path))

    def close(self) -> None:
        self._db.close()

    def save(self, san: StoredSan) -> None:
        key = self._seal.seal(san.hosts_key, SEAL_NAME, san.url) if san.hosts_key else None
        self._db.execute("INSERT OR REPLACE INTO san_connection (id, url, name, version, "
                         "hosts_key) VALUES (1, ?, ?, ?, ?)",
                         (san.url, san.name, san.version, key))

    def load(self) -> StoredSan | None:
        """The SAN this console connected; raises WrongState (HSCLF548) when its hosts
        key was sealed with another token key."""
        row = self._db.execute(
            "SELECT url, name, version, hosts_key FROM san_connection").fetchone()
        if row is None:
            return None
        url, name, version, key = row
        return StoredSan(url, name, version,
                         self._seal.open(key, SEAL_NAME, url) if key else None)

    def forget(self) -> None:
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("DELETE FROM san_connection")
