"""The agent's REST API: one managed system, as the console sees it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field

from openlpm import __version__
from openlpm.agent.cpu_models import cpu_models
from openlpm.agent.partitions import PartitionManager
from openlpm.agent.utilization import KEEP_S, UtilizationSampler
from openlpm.clients.local_mover import ask_local_mover
from openlpm.errors import OpenLpmError, RequestInvalid
from openlpm.model import (
    ConsoleLine,
    Convergence,
    CpuModel,
    GuestVerdict,
    LocalMover,
    MaintenanceChange,
    MigrationDefaults,
    MigrationProgress,
    MoverInfo,
    Partition,
    PartitionChanges,
    PartitionProfile,
    PartitionRuntime,
    StorageSeen,
    StreamOptions,
    SystemInfo,
    SystemUtilization,
)
from openlpm.service import install_error_handlers
from openlpm.trust import ServiceTrust, install_enrollment


class CreatePartition(BaseModel):
    profile: PartitionProfile
    incoming_migration: str | None = None
    running: bool = False
    # The id to give it when the profile names none and this one is free (a migration
    # keeps the partition's id where it can).
    preferred_lpar_id: int | None = Field(default=None, ge=1)


class OutgoingMigration(BaseModel):
    uri: str
    options: StreamOptions = StreamOptions()


class Tuning(BaseModel):
    downtime_limit_ms: int


class IncomingAddress(BaseModel):
    """Where the target QEMU waits for the stream, on the system's own host."""

    uri: str


class StorageCheck(BaseModel):
    profile: PartitionProfile


@dataclass(frozen=True)
class MigrationLimits:
    active: int = 16
    inactive: int = 16


def create_app(manager: PartitionManager, accel: str, qemu_version: str,
               mover_socket: Path | None, limits: MigrationLimits = MigrationLimits(),
               trust: ServiceTrust | None = None) -> FastAPI:
    sampler = UtilizationSampler(manager.qemu_pids)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manager.switch is not None:
            await manager.switch.start()
        await manager.adopt_running()
        # Validation asks for the CPU models; asking QEMU now keeps that off its path.
        warm = asyncio.create_task(cpu_models(manager.qemu_settings.binary, accel))
        sampling = asyncio.create_task(sampler.run())
        yield
        warm.cancel()
        sampling.cancel()
        await manager.close()

    app = FastAPI(title="openlpm agent", version=__version__, lifespan=lifespan)
    install_error_handlers(app)

    if trust is not None:
        install_enrollment(app, trust)

    async def local_movers() -> tuple[LocalMover, ...]:
        if mover_socket is None:
            return ()
        try:
            return (await ask_local_mover(mover_socket),)
        except OpenLpmError:
            return ()

    async def movers() -> tuple[MoverInfo, ...]:
        return tuple(mover.info for mover in await local_movers())

    @app.get("/movers/enrollment-codes")
    async def mover_enrollment_codes() -> dict[str, str]:
        """The one-time codes of this system's movers that no console enrolled yet: the
        console that enrolled this agent enrolls them with these."""
        return {m.info.name: m.enrollment_code for m in await local_movers()
                if m.enrollment_code is not None}

    @app.get("/system")
    async def system() -> SystemInfo:
        free = manager.free()
        settings = manager.settings.read()
        return SystemInfo(
            name=manager.system, cpus=manager.capacity.cpus,
            memory_mb=manager.capacity.memory_mb, free_cpus=free.cpus,
            free_memory_mb=free.memory_mb, accel=accel, qemu_version=qemu_version,
            agent_version=__version__, maintenance=settings.maintenance,
            convergence=settings.convergence, max_downtime_ms=settings.max_downtime_ms,
            stream_encryption=settings.stream_encryption,
            page_size_kb=os.sysconf("SC_PAGE_SIZE") // 1024,
            max_active_migrations=limits.active, max_inactive_migrations=limits.inactive,
            movers=await movers(), san_url=manager.storage.san_url,
            io_services=manager.storage.io_services,
            vlans=manager.switch.vlans if manager.switch else ())

    @app.post("/system/storage-check")
    async def storage_check(body: StorageCheck) -> StorageSeen:
        """Whether this system reaches every LUN of a profile (as it would run here)."""
        return await manager.check_storage(body.profile)

    @app.put("/system/maintenance")
    async def maintenance(body: MaintenanceChange) -> SystemInfo:
        manager.set_maintenance(body.maintenance)
        return await system()

    @app.patch("/system/migration-defaults")
    async def migration_defaults(body: MigrationDefaults) -> SystemInfo:
        if body.convergence == Convergence.AUTO_CONVERGE and accel == "tcg":
            raise RequestInvalid(
                f"Managed system {manager.system} runs partitions with TCG, where QEMU's "
                f"auto-converge corrupts a migrating guest's memory; choose precopy or "
                f"postcopy.", code="HSCLF130")
        manager.change_settings(**body.model_dump(exclude_none=True))
        return await system()

    @app.get("/system/utilization")
    async def utilization(window: float = Query(default=60.0, gt=0, le=KEEP_S)) -> \
            SystemUtilization:
        """Processor time each running partition used over the last ``window`` seconds
        (sampled every 2 s, kept 10 minutes), and its memory."""
        memory = {p.name: p.profile.desired_mem for p in manager.partitions()}
        return SystemUtilization(
            system=manager.system, cpus=manager.capacity.cpus,
            memory_mb=manager.capacity.memory_mb,
            maintenance=manager.settings.read().maintenance, window_s=window,
            partitions=tuple(sampler.usage(window, memory)))

    @app.get("/system/cpu-models")
    async def models() -> list[CpuModel]:
        return list(await cpu_models(manager.qemu_settings.binary, accel))

    @app.get("/partitions")
    async def partitions() -> list[Partition]:
        return manager.partitions()

    @app.post("/partitions")
    async def create(body: CreatePartition) -> Partition:
        return await manager.create(body.profile, body.incoming_migration, body.running,
                                    body.preferred_lpar_id)

    @app.get("/partitions/{name}")
    async def partition(name: str) -> Partition:
        return manager.partition(name)

    @app.patch("/partitions/{name}")
    async def change(name: str, body: PartitionChanges) -> Partition:
        return await manager.set_migration_disabled(name, body.migration_disabled)

    @app.get("/partitions/{name}/runtime")
    async def runtime(name: str) -> PartitionRuntime:
        return await manager.runtime(name)

    @app.post("/partitions/{name}/keep")
    async def keep(name: str) -> Partition:
        return await manager.keep(name)

    @app.post("/partitions/{name}/mobility-check")
    async def mobility_check(name: str) -> GuestVerdict:
        return await manager.ask_guest(name)

    @app.delete("/partitions/{name}")
    async def remove(name: str) -> None:
        await manager.remove(name)

    @app.post("/partitions/{name}/activate")
    async def activate(name: str) -> Partition:
        return await manager.activate(name)

    @app.post("/partitions/{name}/shutdown")
    async def shutdown(name: str, immediate: bool = False) -> Partition:
        return await manager.shutdown(name, immediate)

    @app.post("/partitions/{name}/incoming")
    async def incoming(name: str, options: StreamOptions) -> IncomingAddress:
        return IncomingAddress(uri=await manager.prepare_incoming(name, options))

    @app.post("/partitions/{name}/incoming/finish")
    async def finish_incoming(name: str) -> Partition:
        return await manager.finish_incoming(name)

    @app.post("/partitions/{name}/outgoing")
    async def outgoing(name: str, body: OutgoingMigration) -> None:
        await manager.start_outgoing(name, body.uri, body.options)

    @app.post("/partitions/{name}/outgoing/tune")
    async def tune(name: str, body: Tuning) -> None:
        await manager.tune_outgoing(name, body.downtime_limit_ms)

    @app.post("/partitions/{name}/outgoing/postcopy")
    async def postcopy(name: str) -> None:
        await manager.start_postcopy(name)

    @app.post("/partitions/{name}/outgoing/inactive")
    async def outgoing_inactive(name: str) -> Partition:
        return manager.mark_outgoing(name)

    @app.delete("/partitions/{name}/outgoing/inactive")
    async def outgoing_inactive_undo(name: str) -> Partition:
        return manager.unmark_outgoing(name)

    @app.get("/partitions/{name}/outgoing")
    async def progress(name: str, wait: float = 0.0,
                       known_status: str | None = None) -> MigrationProgress:
        return await manager.outgoing_progress(name, min(wait, 5.0), known_status)

    @app.post("/partitions/{name}/outgoing/cancel")
    async def cancel(name: str) -> Partition:
        return await manager.cancel_outgoing(name)

    @app.get("/partitions/{name}/console")
    async def console(name: str, lines: int = 100) -> list[ConsoleLine]:
        return manager.console(name, lines)

    @app.post("/partitions/{name}/console/final")
    async def final_console(name: str, lines: int = 100) -> list[ConsoleLine]:
        """The console of a partition that left by migration, every line it wrote here."""
        return await manager.final_console(name, lines)

    @app.post("/partitions/{name}/console")
    async def merge_console(name: str, history: list[ConsoleLine]) -> None:
        manager.merge_console(name, history)

    return app
