"""Showing a migration as it happens: a live bar on a terminal, step lines otherwise."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from openlpm.model import MigrationKind, MigrationRecord, MigrationStep


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
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn())
    last: MigrationRecord | None = None
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("starting", total=None, rate="")
        async for record in records:
            total = record.bytes_transmitted + record.bytes_remaining
            # QEMU's rate, not one derived from our samples: it is what the wire carries.
            progress.update(task, description=describe(record), completed=
                            record.bytes_transmitted, total=total or None,
                            rate=f"{record.rate_bps / 2**20:.0f} MiB/s")
            last = record
    assert last is not None
    return last


async def _print_steps(records: AsyncIterator[MigrationRecord],
                       console: Console) -> MigrationRecord:
    """One line per step (steps done between two updates included) and per second."""
    last: MigrationRecord | None = None
    shown, shown_at, step_shown = "", 0.0, 0
    async for record in records:
        step = int(record.step or 0)
        for skipped in range(step_shown + 1, step):
            console.print(_passed_step(MigrationStep(skipped), record), highlight=False)
        step_shown = max(step_shown, step)
        line = describe(record)
        if line != shown or (record.step == MigrationStep.MIGRATE
                             and time.monotonic() - shown_at >= 1.0):
            console.print(line + _bytes(record), highlight=False)
            shown, shown_at = line, time.monotonic()
        last = record
    assert last is not None
    return last


def _passed_step(step: MigrationStep, record: MigrationRecord) -> str:
    moves_memory = step in (MigrationStep.MOVER_SERVICES, MigrationStep.MIGRATE)
    if moves_memory and record.kind == MigrationKind.INACTIVE:
        return f"step {int(step)}/7 {step.label} (not needed: the partition is not running)"
    return f"step {int(step)}/7 {step.label}"


def _bytes(record: MigrationRecord) -> str:
    if record.step != MigrationStep.MIGRATE:
        return ""
    return (f"  {record.bytes_transmitted / 2**20:.0f} MiB sent, "
            f"{record.bytes_remaining / 2**20:.0f} MiB remaining, "
            f"{record.rate_bps / 2**20:.0f} MiB/s")


def summary(record: MigrationRecord) -> str:
    took = (record.ended or record.started) - record.started
    downtime = f", downtime {record.downtime_ms} ms" if record.downtime_ms is not None else ""
    sent = f", {record.bytes_transmitted / 2**20:.1f} MiB sent" \
        if record.kind.value == "active" else ""
    if record.encrypted is not None:
        sent += f" {'encrypted' if record.encrypted else 'in the clear'} between " \
                f"{record.source_msp_name} and {record.dest_msp_name}"
    return (f"Migration {record.id} of {record.partition} ({record.kind.value}) from "
            f"{record.source} to {record.target}: {record.state.value} in {took:.1f} s"
            f"{downtime}{sent}.")
