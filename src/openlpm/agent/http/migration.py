"""A partition's migration as each side sees it: the target's incoming QEMU, the
source's outgoing stream (its progress, tuning, post-copy, cancel), and an inactive
partition marked as leaving."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from openlpm.agent.http.state import Manager
from openlpm.model import IncomingFinished, MigrationProgress, Partition, StreamOptions

router = APIRouter()


class IncomingAddress(BaseModel):
    """Where the target QEMU waits for the stream, on the system's own host."""

    uri: str


class OutgoingMigration(BaseModel):
    uri: str
    options: StreamOptions = StreamOptions()


class Tuning(BaseModel):
    downtime_limit_ms: int


@router.post("/partitions/{name}/incoming")
async def incoming(name: str, options: StreamOptions, manager: Manager) -> IncomingAddress:
    return IncomingAddress(uri=await manager.prepare_incoming(name, options))


@router.post("/partitions/{name}/incoming/finish")
async def finish_incoming(name: str, manager: Manager) -> IncomingFinished:
    return await manager.finish_incoming(name)


@router.post("/partitions/{name}/outgoing")
async def outgoing(name: str, body: OutgoingMigration, manager: Manager) -> None:
    await manager.start_outgoing(name, body.uri, body.options)


@router.post("/partitions/{name}/outgoing/tune")
async def tune(name: str, body: Tuning, manager: Manager) -> None:
    await manager.tune_outgoing(name, body.downtime_limit_ms)


@router.post("/partitions/{name}/outgoing/postcopy")
async def postcopy(name: str, manager: Manager) -> None:
    await manager.start_postcopy(name)


@router.post("/partitions/{name}/outgoing/inactive")
async def outgoing_inactive(name: str, manager: Manager) -> Partition:
    return manager.mark_outgoing(name)


@router.delete("/partitions/{name}/outgoing/inactive")
async def outgoing_inactive_undo(name: str, manager: Manager) -> Partition:
    return manager.unmark_outgoing(name)


@router.get("/partitions/{name}/outgoing")
async def progress(name: str, manager: Manager, wait: float = 0.0,
                   known_status: str | None = None) -> MigrationProgress:
    return await manager.outgoing_progress(name, min(wait, 5.0), known_status)


@router.post("/partitions/{name}/outgoing/cancel")
async def cancel(name: str, manager: Manager) -> Partition:
    return await manager.cancel_outgoing(name)
