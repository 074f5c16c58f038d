"""Following several migrations at once (``evacuate``, ``balance``): a live table on a
terminal, one line per change otherwise, each fed by the migration's own event stream."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.live import Live
from rich.table import Table

from openlpm.cli.steps import describe
from openlpm.clients.console import HmcClient
from openlpm.model import MigrationRecord

REFRESH_S = 0.25

# (partition, target system, migration id) of each migration to follow.
Followed = tuple[str, str, str]


async def follow_migrations(hmc: HmcClient, migrations: Sequence[Followed], title: str,
                            console: Console) -> dict[str, MigrationRecord]:
    """Every migration until it ends; returns their last records by id."""
    latest: dict[str, MigrationRecord] = {}
    shown: dict[str, str] = {}

    async def follow(migration_id: str) -> None:
        async for record in hmc.follow(migration_id):
            latest[migration_id] = record
            line = f"{record.partition} → {record.target}: {describe(record)}"
            if not console.is_terminal and shown.get(migration_id) != line:
                console.print(line, highlight=False)
                shown[migration_id] = line

    followers = asyncio.gather(*(follow(m) for _, _, m in migrations))
    if console.is_terminal:
        with Live(progress_table(title, migrations, latest), console=console,
                  transient=True) as live:
            while not followers.done():
                await asyncio.wait([followers], timeout=REFRESH_S)
                live.update(progress_table(title, migrations, latest))
    await followers
    return latest


def progress_table(title: str, migrations: Sequence[Followed],
                   latest: Mapping[str, MigrationRecord]) -> Table:
    ended = sum(record.state.finished for record in latest.values())
    table = Table(title=f"{title}: {ended} of {len(migrations)} migrations ended")
    for column in ("partition", "to", "state", "MiB sent", "MiB left", "MiB/s"):
        table.add_column(column, justify="left" if column in ("partition", "to", "state")
                         else "right")
    for partition, target, migration_id in migrations:
        record = latest.get(migration_id)
        if record is None:
            table.add_row(partition, target, "starting", "", "", "")
            continue
        table.add_row(partition, target, describe(record),
                      f"{record.bytes_transmitted / 2**20:.0f}",
                      f"{record.bytes_remaining / 2**20:.0f}",
                      f"{record.rate_bps / 2**20:.0f}")
    return table
