"""The console's SQLite database, shared by its stores (inventory, users, audit log)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit and WAL mode, with ``schema``'s tables made if missing.

    Made where the app is built and used on its event loop, one thread at a time.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    return db
