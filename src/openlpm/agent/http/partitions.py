"""The system's partitions: create, look at, change, start, stop, remove."""

from __future__ import annotations

import base64

from fastapi import APIRouter
from pydantic import Base64Bytes, BaseModel, Field

from openlpm.agent.http.state import Manager
from openlpm.model import (
    GuestVerdict,
    Partition,
    PartitionChanges,
    PartitionProfile,
    PartitionRuntime,
)

router = APIRouter()

# OVMF's largest variable store is 4 MiB.
NVRAM_MAX_BYTES = 4 << 20


class CreatePartition(BaseModel):
    profile: PartitionProfile
    incoming_migration: str | None = None
    running: bool = False
    # The id to give it when the profile names none and this one is free (a migration
    # keeps the partition's id where it can).
    preferred_lpar_id: int | None = Field(default=None, ge=1)
    # The UEFI variables an inactive partition brings from its source, base64.
    nvram: Base64Bytes | None = Field(default=None, max_length=NVRAM_MAX_BYTES * 4 // 3 + 4)


class Nvram(BaseModel):
    nvram: str | None = Field(description="the partition's UEFI variables, base64")


@router.get("/partitions")
async def partitions(manager: Manager) -> list[Partition]:
    return manager.partitions()


@router.post("/partitions")
async def create(body: CreatePartition, manager: Manager) -> Partition:
    return await manager.create(body.profile, body.incoming_migration, body.running,
                                body.preferred_lpar_id, body.nvram)


@router.get("/partitions/{name}")
async def partition(name: str, manager: Manager) -> Partition:
    return manager.partition(name)


@router.get("/partitions/{name}/nvram")
async def nvram(name: str, manager: Manager) -> Nvram:
    content = manager.nvram(name)
    return Nvram(nvram=base64.b64encode(content).decode() if content is not None else None)


@router.patch("/partitions/{name}")
async def change(name: str, body: PartitionChanges, manager: Manager) -> Partition:
    return await manager.set_migration_disabled(name, body.migration_disabled)


@router.get("/partitions/{name}/runtime")
async def runtime(name: str, manager: Manager) -> PartitionRuntime:
    return await manager.runtime(name)


@router.post("/partitions/{name}/keep")
async def keep(name: str, manager: Manager) -> Partition:
    return await manager.keep(name)


@router.post("/partitions/{name}/mobility-check")
async def mobility_check(name: str, manager: Manager) -> GuestVerdict:
    return await manager.ask_guest(name)


@router.delete("/partitions/{name}")
async def remove(name: str, manager: Manager) -> None:
    await manager.remove(name)


@router.post("/partitions/{name}/activate")
async def activate(name: str, manager: Manager) -> Partition:
    return await manager.activate(name)


@router.post("/partitions/{name}/shutdown")
async def shutdown(name: str, manager: Manager, immediate: bool = False) -> Partition:
    return await manager.shutdown(name, immediate)
