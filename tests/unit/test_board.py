"""The console's record of migrations tells the truth across a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.stores.inventory import Inventory
from openlpm.model import MigrationKind, MigrationRecord, MigrationState, MigrationStep


def record(state: MigrationState) -> MigrationRecord:
    return MigrationRecord(id=f"m-{state.name}", partition="p1", source="a", target="b",
                           kind=MigrationKind.ACTIVE, state=state, started=time.time(),
                           step=MigrationStep.MIGRATE)


async def test_a_restarted_console_marks_migrations_it_no_longer_drives_as_failed(
        tmp_path: Path) -> None:
    before = MigrationBoard(Inventory(tmp_path / "hmc.db"))
    await before.publish(record(MigrationState.IN_PROGRESS))
    await before.publish(record(MigrationState.COMPLETE))

    after = MigrationBoard(Inventory(tmp_path / "hmc.db"))
    await after.abandon_unfinished()

    states = {r.id: r.state for r in after.inventory.migrations()}
    assert states == {"m-IN_PROGRESS": MigrationState.FAILED,
                      "m-COMPLETE": MigrationState.COMPLETE}
    abandoned = after.inventory.migration("m-IN_PROGRESS")
    assert abandoned.error_code == "HSCLF204" and abandoned.ended is not None
    assert after.inventory.journal_of("m-IN_PROGRESS")[-1].phase == "abandoned"
    assert after.in_flight() == []


async def test_a_watcher_sees_every_change_until_the_end(tmp_path: Path) -> None:
    board = MigrationBoard(Inventory(tmp_path / "hmc.db"))
    running = record(MigrationState.IN_PROGRESS)
    await board.publish(running)
    seen: list[MigrationState] = []

    async def watch() -> None:
        async for update in board.watch(running.id):
            seen.append(update.state)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)
    await board.publish(running.model_copy(update={"state": MigrationState.COMPLETE}))
    await asyncio.wait_for(watcher, 2)
    assert seen == [MigrationState.IN_PROGRESS, MigrationState.COMPLETE]
