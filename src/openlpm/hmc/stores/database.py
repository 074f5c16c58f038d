"""The console's SQLite database, shared by its stores (inventory, users, audit log).

It holds password hashes, session and token digests, other consoles' tokens and the
audit log: its owner's only (0600), and so are SQLite's ``-wal``, ``-shm`` and
``-journal`` files, which SQLite creates with the database file's mode.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from openlpm.private import create_private

SIDE_FILES = ("-wal", "-shm", "-journal")


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit and WAL mode, with ``schema``'s tables made if missing.

    Made where the app is built and used on its event loop, one thread at a time.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    create_private(path)
    for side in SIDE_FILES:
        # Left by a console that ran before it kept them private.
        left = path.with_name(path.name + side)
        if left.exists():
            create_private(left)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    return db
