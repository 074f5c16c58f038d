"""The console's pages about a managed system's partitions: creating, changing,
activating, shutting down and removing them, and their console lines."""

from __future__ import annotations

from fastapi import APIRouter, Request

from openlpm.errors import WrongState
from openlpm.hmc.access.guard import require_host_devices_role
from openlpm.hmc.http.depends import ConsoleDep
from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.mobility.checks.facts import migration_kind
from openlpm.model import (
    ConsoleLine,
    Partition,
    PartitionChanges,
    PartitionProfile,
    PartitionState,
    PartitionSummary,
)

router = APIRouter()


def with_migration(board: MigrationBoard, system: str,
                   partition: Partition) -> PartitionSummary:
    """The partition, with the migration it is in if one is in flight."""
    record = board.in_flight_of(system, partition.name)
    if record is None:
        return PartitionSummary(system=system, partition=partition)
    return PartitionSummary(system=system, partition=partition,
                            migration_state=record.state, migration_id=record.id)


async def changed(board: MigrationBoard, system: str,
                  partition: Partition) -> PartitionSummary:
    """The partition just changed, once the board told watchers its system changed."""
    found = with_migration(board, system, partition)
    await board.system_changed(system)
    return found


@router.get("/systems/{system}/partitions")
async def partitions(hmc: ConsoleDep, system: str,
                     mobile: bool = False) -> list[PartitionSummary]:
    """The system's partitions; with ``mobile``, only those whose state lets them migrate
    (validation's rule: Running, or Not Activated after one activation)."""
    return [with_migration(hmc.board, system, p)
            for p in await hmc.site.agent(system).partitions()
            if not mobile or migration_kind(p) is not None]


@router.post("/systems/{system}/partitions")
async def create_partition(hmc: ConsoleDep, system: str, profile: PartitionProfile,
                           request: Request) -> PartitionSummary:
    require_host_devices_role(request.state.user, profile)
    return await changed(hmc.board, system, await hmc.site.agent(system).create(profile))


@router.get("/systems/{system}/partitions/{name}")
async def partition(hmc: ConsoleDep, system: str, name: str) -> PartitionSummary:
    return with_migration(hmc.board, system, await hmc.site.partition(system, name))


@router.patch("/systems/{system}/partitions/{name}")
async def change_partition(hmc: ConsoleDep, system: str, name: str,
                           body: PartitionChanges) -> PartitionSummary:
    await hmc.site.partition(system, name)
    return await changed(hmc.board, system, await hmc.site.agent(system)
                         .set_migration_disabled(name, body.migration_disabled))


@router.delete("/systems/{system}/partitions/{name}")
async def remove_partition(hmc: ConsoleDep, system: str, name: str) -> None:
    found = with_migration(hmc.board, system, await hmc.site.partition(system, name))
    if found.partition.state != PartitionState.NOT_ACTIVATED or found.migration_id:
        raise WrongState(
            f"Partition {name} on {system} is {found.partition.state.value}; shut it "
            f"down before removing it.", code="HSCLF166")
    await hmc.site.agent(system).remove(name)
    await hmc.board.system_changed(system)


@router.post("/systems/{system}/partitions/{name}/activate")
async def activate(hmc: ConsoleDep, system: str, name: str) -> PartitionSummary:
    return await changed(hmc.board, system, await hmc.site.agent(system).activate(name))


@router.post("/systems/{system}/partitions/{name}/shutdown")
async def shutdown(hmc: ConsoleDep, system: str, name: str,
                   immediate: bool = False) -> PartitionSummary:
    return await changed(hmc.board, system,
                         await hmc.site.agent(system).shutdown(name, immediate))


@router.get("/systems/{system}/partitions/{name}/console")
async def console(hmc: ConsoleDep, system: str, name: str,
                  lines: int = 100) -> list[ConsoleLine]:
    return await hmc.site.agent(system).console(name, lines)
