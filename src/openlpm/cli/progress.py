"""Showing a migration as it happens: a live bar on a terminal, step lines otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from openlpm.model import MigrationRecord, MigrationStep


def describe(record: MigrationRecord) -> str:
    if record.step is None:
        return record.state.value
    phase = f" ({record.step_phase})" if record.step_phase else ""
    return f"step {int(record.step)}/7 {record.step.label}{phase}"


async def show_progress(records: AsyncIterator[MigrationRecord],
                        console: Console | None = None) -> MigrationRecord:
    """Render every update of a migration; returns the final record."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        return await _print_steps(records, console)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
               TransferSpeedColumn(), TimeElapsedColumn())
    last: MigrationRecord | None = None
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("starting", total=None)
        async for record in records:
            total = record.bytes_transmitted + record.bytes_remaining
            progress.update(task, description=describe(record), completed=
                            record.bytes_transmitted, total=total or None)
            last = record
    assert last is not None
    return last


async def _print_steps(records: AsyncIterator[MigrationRecord],
                       console: Console) -> MigrationRecord:
    last: MigrationRecord | None = None
    shown = ""
    async for record in records:
        line = describe(record)
        if line != shown:
            sent = record.bytes_transmitted / 2**20
            extra = (f"  {sent:.0f} MiB sent, {record.bytes_remaining / 2**20:.0f} MiB "
                     f"remaining" if record.step == MigrationStep.MIGRATE else "")
            console.print(line + extra, highlight=False)
            shown = line
        last = record
    assert last is not None
    return last


def summary(record: MigrationRecord) -> str:
    took = (record.ended or record.started) - record.started
    downtime = f", downtime {record.downtime_ms} ms" if record.downtime_ms is not None else ""
    sent = f", {record.bytes_transmitted / 2**20:.1f} MiB sent" \
        if record.kind.value == "active" else ""
    return (f"Migration {record.id} of {record.partition} ({record.kind.value}) from "
            f"{record.source} to {record.target}: {record.state.value} in {took:.1f} s"
            f"{downtime}{sent}.")
