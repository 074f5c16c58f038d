"""The console's inventory: managed systems, migration jobs and their journal (SQLite).

Partitions are not copied here: each managed system's profile store is the truth about
its partitions, and the console asks it. What only the console knows lives here.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from openlpm.errors import ObjectExists, ObjectNotFound
from openlpm.hmc.stores.database import open_database
from openlpm.model import Frozen, JournalEntry, MigrationRecord, MigrationStep

SCHEMA = """
CREATE TABLE IF NOT EXISTS systems (
    name TEXT PRIMARY KEY, agent_url TEXT NOT NULL, added REAL NOT NULL);
CREATE TABLE IF NOT EXISTS migrations (
    id TEXT PRIMARY KEY, partition TEXT NOT NULL, source TEXT NOT NULL,
    target TEXT NOT NULL, state TEXT NOT NULL, started REAL NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    migration_id TEXT NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,
    step INTEGER, phase TEXT NOT NULL, detail TEXT NOT NULL);
"""


class SystemEntry(Frozen):
    name: str
    agent_url: str


class Inventory:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- managed systems ----------------------------------------------------------------

    def add_system(self, entry: SystemEntry) -> None:
        try:
            self._db.execute("INSERT INTO systems VALUES (?, ?, ?)",
                             (entry.name, entry.agent_url, time.time()))
        except sqlite3.IntegrityError:
            raise ObjectExists(f"Managed system {entry.name} is already known to this "
                               f"console.", code="HSCLF161") from None

    def require_new(self, name: str) -> None:
        """Raises ObjectExists if a system of that name is known already."""
        if any(entry.name == name for entry in self.systems()):
            raise ObjectExists(f"Managed system {name} is already known to this "
                               f"console.", code="HSCLF161")

    def remove_system(self, name: str) -> None:
        self.system(name)
        self._db.execute("DELETE FROM systems WHERE name = ?", (name,))

    def systems(self) -> list[SystemEntry]:
        rows = self._db.execute("SELECT name, agent_url FROM systems ORDER BY name")
        return [SystemEntry(name=n, agent_url=u) for n, u in rows]

    def system(self, name: str) -> SystemEntry:
        row = self._db.execute("SELECT name, agent_url FROM systems WHERE name = ?",
                               (name,)).fetchone()
        if row is None:
            known = ", ".join(s.name for s in self.systems()) or "none"
            raise ObjectNotFound(
                f"The managed system {name} was not found. Known systems: {known}.",
                code="HSCLF162")
        return SystemEntry(name=row[0], agent_url=row[1])

    # -- migrations ---------------------------------------------------------------------

    def save_migration(self, record: MigrationRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO migrations VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.id, record.partition, record.source, record.target, record.state.value,
             record.started, record.model_dump_json()))

    def migrations(self, system: str | None = None, partition: str | None = None,
                   limit: int = 200) -> list[MigrationRecord]:
        query = "SELECT record FROM migrations WHERE 1=1"
        args: list[object] = []
        if system is not None:
            query += " AND (source = ? OR target = ?)"
            args += [system, system]
        if partition is not None:
            query += " AND partition = ?"
            args.append(partition)
        query += " ORDER BY started DESC LIMIT ?"
        args.append(limit)
        return [MigrationRecord.model_validate_json(r) for (r,) in
                self._db.execute(query, args)]

    def migration(self, migration_id: str) -> MigrationRecord:
        row = self._db.execute("SELECT record FROM migrations WHERE id = ?",
                               (migration_id,)).fetchone()
        if row is None:
            raise ObjectNotFound(f"Migration {migration_id} was not found.", code="HSCLF163")
        return MigrationRecord.model_validate_json(row[0])

    # -- journal ------------------------------------------------------------------------

    def journal(self, migration_id: str, step: MigrationStep | None, phase: str,
                detail: str = "") -> None:
        self._db.execute(
            "INSERT INTO journal (migration_id, at, step, phase, detail) VALUES (?,?,?,?,?)",
            (migration_id, time.time(), None if step is None else int(step), phase, detail))

    def journal_of(self, migration_id: str) -> list[JournalEntry]:
        rows = self._db.execute(
            "SELECT migration_id, at, step, phase, detail FROM journal "
            "WHERE migration_id = ? ORDER BY seq", (migration_id,))
        return [JournalEntry(migration_id=m, at=a, step=None if s is None else MigrationStep(s),
                             phase=p, detail=d) for m, a, s, p, d in rows]
