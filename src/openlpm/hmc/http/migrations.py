"""The console's pages about migrations: validating (``migrlpar -o v``), starting
(``-o m``), stopping (``-o s``) and recovering (``-o r``) them, their records and
journals, and the Server-Sent Events of what changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from openlpm.errors import ObjectNotFound, WrongState
from openlpm.hmc.http.depends import ConsoleDep
from openlpm.hmc.mobility.board import MigrationBoard, SystemChanged
from openlpm.hmc.mobility.validate import plan_migration, require_passed
from openlpm.model import JournalEntry, MigrationRecord, MigrationRequest, ValidationReport

KEEPALIVE_S = 15.0
router = APIRouter()


@router.post("/validations")
async def validate(hmc: ConsoleDep, request: MigrationRequest) -> ValidationReport:
    return (await plan_migration(hmc.site, hmc.board, request, hmc.name)).report


@router.post("/migrations")
async def migrate(hmc: ConsoleDep, request: MigrationRequest) -> MigrationRecord:
    plan = await plan_migration(hmc.site, hmc.board, request, hmc.name)
    require_passed(plan)
    return await hmc.engine.submit(plan)


@router.post("/systems/{system}/partitions/{name}/migration/stop")
async def stop(hmc: ConsoleDep, system: str, name: str) -> MigrationRecord:
    """``migrlpar -o s``: the partition stays on the source; the target is cleaned."""
    hmc.inventory.system(system)
    record = hmc.board.in_flight_of(system, name)
    if record is None:
        raise WrongState(f"Partition {name} has no migration in progress on managed "
                         f"system {system}.", code="HSCLF206")
    return await hmc.engine.stop(record.id)


@router.post("/systems/{system}/partitions/{name}/migration/recover")
async def recover(hmc: ConsoleDep, system: str, name: str,
                  force: bool = False) -> MigrationRecord:
    """``migrlpar -o r``: settle the partition's newest migration in one place."""
    return await hmc.recovery.recover(system, name, force)


@router.post("/migrations/{migration_id}/stop")
async def stop_migration(hmc: ConsoleDep, migration_id: str) -> MigrationRecord:
    hmc.inventory.migration(migration_id)
    return await hmc.engine.stop(migration_id)


@router.get("/migrations")
async def migrations(hmc: ConsoleDep, system: str | None = None,
                     partition: str | None = None) -> list[MigrationRecord]:
    return hmc.inventory.migrations(system, partition)


@router.get("/migrations/{migration_id}")
async def migration(hmc: ConsoleDep, migration_id: str) -> MigrationRecord:
    return hmc.inventory.migration(migration_id)


@router.get("/migrations/{migration_id}/journal")
async def journal(hmc: ConsoleDep, migration_id: str) -> list[JournalEntry]:
    hmc.inventory.migration(migration_id)
    return hmc.inventory.journal_of(migration_id)


@router.get("/migrations/{migration_id}/events")
async def events(hmc: ConsoleDep, migration_id: str) -> StreamingResponse:
    """Server-Sent Events: the record each time it changes, until it is finished."""
    hmc.inventory.migration(migration_id)

    async def stream() -> AsyncIterator[str]:
        async for record in hmc.board.watch(migration_id):
            yield f"event: migration\ndata: {record.model_dump_json()}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


@router.get("/events")
async def all_events(hmc: ConsoleDep) -> StreamingResponse:
    """Server-Sent Events of every change the console makes: ``migration`` (a
    migration record, as it changes), ``system`` (``{"system": NAME}``: its
    partitions changed), ``resync`` (some changes were missed: look again); a comment
    every 15 s keeps idle connections open."""
    return StreamingResponse(_every_change(hmc.board), media_type="text/event-stream")


async def _every_change(board: MigrationBoard) -> AsyncIterator[str]:
    """The stream of ``GET /events``, a keep-alive comment when nothing changed for
    KEEPALIVE_S."""
    yield ": connected\n\n"
    changes = board.watch_all()
    next_change = asyncio.ensure_future(anext(changes))
    try:
        while True:
            done, _ = await asyncio.wait([next_change], timeout=KEEPALIVE_S)
            if not done:
                yield ": keep-alive\n\n"
                continue
            change = next_change.result()
            next_change = asyncio.ensure_future(anext(changes))
            if change is None:
                yield "event: resync\ndata: {}\n\n"
            elif isinstance(change, SystemChanged):
                yield f"event: system\ndata: {json.dumps({'system': str(change)})}\n\n"
            else:
                yield f"event: migration\ndata: {change.model_dump_json()}\n\n"
    finally:
        next_change.cancel()


@router.get("/partitions/{name}/migration")
async def partition_migration(hmc: ConsoleDep, name: str) -> MigrationRecord:
    """The newest migration of a partition, live if one is in flight."""
    for record in hmc.board.in_flight():
        if record.partition == name:
            return record
    found = hmc.inventory.migrations(partition=name, limit=1)
    if not found:
        raise ObjectNotFound(f"Partition {name} has never migrated.", code="HSCLF165")
    return found[0]
