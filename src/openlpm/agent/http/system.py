"""The managed system: what it is, its settings, its load, its movers."""

from __future__ import annotations

import os
import time

from fastapi import APIRouter, Query
from pydantic import BaseModel

from openlpm import __version__
from openlpm.agent.cpu_models import cpu_models
from openlpm.agent.http.state import Agent, AgentState, Manager
from openlpm.agent.utilization import KEEP_S
from openlpm.clients.local_mover import ask_local_mover
from openlpm.errors import OpenLpmError, RequestInvalid
from openlpm.model import (
    Convergence,
    CpuModel,
    HostClock,
    LocalMover,
    MaintenanceChange,
    MigrationDefaults,
    PartitionProfile,
    StorageSeen,
    SystemInfo,
    SystemUtilization,
)

router = APIRouter()


class StorageCheck(BaseModel):
    profile: PartitionProfile


@router.get("/movers/enrollment-codes")
async def mover_enrollment_codes(agent: Agent) -> dict[str, str]:
    """The one-time codes of this system's movers that no console enrolled yet: the
    console that enrolled this agent enrolls them with these."""
    return {m.info.name: m.enrollment_code for m in await local_movers(agent)
            if m.enrollment_code is not None}


@router.get("/system")
async def system(agent: Agent) -> SystemInfo:
    return await system_info(agent)


@router.get("/system/clock")
async def clock() -> HostClock:
    """This host's clock: the console compares it with its own to put the two sides of
    a migration's pause (source STOP, target RESUME) on one time line."""
    return HostClock(time=time.time())


@router.post("/system/storage-check")
async def storage_check(body: StorageCheck, manager: Manager) -> StorageSeen:
    """Whether this system reaches every LUN of a profile (as it would run here)."""
    return await manager.check_storage(body.profile)


@router.put("/system/maintenance")
async def maintenance(body: MaintenanceChange, agent: Agent) -> SystemInfo:
    agent.manager.set_maintenance(body.maintenance)
    return await system_info(agent)


@router.patch("/system/migration-defaults")
async def migration_defaults(body: MigrationDefaults, agent: Agent) -> SystemInfo:
    if body.convergence == Convergence.AUTO_CONVERGE and agent.accel == "tcg":
        raise RequestInvalid(
            f"Managed system {agent.manager.system} runs partitions with TCG, where "
            f"QEMU's auto-converge corrupts a migrating guest's memory; choose precopy or "
            f"postcopy.", code="HSCLF130")
    agent.manager.change_settings(**body.model_dump(exclude_none=True))
    return await system_info(agent)


@router.get("/system/utilization")
async def utilization(agent: Agent, window: float = Query(default=60.0, gt=0, le=KEEP_S)) \
        -> SystemUtilization:
    """Processor time each running partition used over the last ``window`` seconds
    (sampled every 2 s, kept 10 minutes), and its memory."""
    manager = agent.manager
    memory = {p.name: p.profile.desired_mem for p in manager.partitions()}
    return SystemUtilization(
        system=manager.system, cpus=manager.capacity.cpus,
        memory_mb=manager.capacity.memory_mb,
        maintenance=manager.settings.read().maintenance, window_s=window,
        partitions=tuple(agent.sampler.usage(window, memory)))


@router.get("/system/cpu-models")
async def models(agent: Agent) -> list[CpuModel]:
    return list(await cpu_models(agent.manager.qemu_settings.binary, agent.accel))


async def system_info(agent: AgentState) -> SystemInfo:
    manager, limits = agent.manager, agent.limits
    free = manager.free()
    settings = manager.settings.read()
    return SystemInfo(
        name=manager.system, cpus=manager.capacity.cpus,
        memory_mb=manager.capacity.memory_mb, free_cpus=free.cpus,
        free_memory_mb=free.memory_mb, accel=agent.accel, qemu_version=agent.qemu_version,
        agent_version=__version__, maintenance=settings.maintenance,
        convergence=settings.convergence, max_downtime_ms=settings.max_downtime_ms,
        stream_encryption=settings.stream_encryption,
        page_size_kb=os.sysconf("SC_PAGE_SIZE") // 1024,
        max_active_migrations=limits.active, max_inactive_migrations=limits.inactive,
        movers=tuple(mover.info for mover in await local_movers(agent)),
        san_url=manager.storage.san_url, io_services=manager.storage.io_services,
        vlans=manager.switch.vlans if manager.switch else ())


async def local_movers(agent: AgentState) -> tuple[LocalMover, ...]:
    """The mover of this system's host, if one answers on its local socket."""
    if agent.mover_socket is None:
        return ()
    try:
        return (await ask_local_mover(agent.mover_socket),)
    except OpenLpmError:
        return ()
