"""The console's REST API: the one interface of the CLI, the web console and scripts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, field_validator

from openlpm import __version__
from openlpm.clients.agent import AgentClient
from openlpm.errors import ObjectNotFound, OpenLpmError, RequestInvalid, WrongState
from openlpm.hmc.access.guard import install_unrouted, require_host_devices_role
from openlpm.hmc.console import Console
from openlpm.hmc.http import api_docs, consoles, san, users
from openlpm.hmc.http.body_limit import MIB, BodyLimit
from openlpm.hmc.http.web import install_web_console
from openlpm.hmc.mobility.board import SystemChanged
from openlpm.hmc.mobility.checks.facts import stream_encrypted
from openlpm.hmc.mobility.validate import plan_migration, remote_console, require_passed
from openlpm.hmc.site.remote import errors_from
from openlpm.hmc.stores.inventory import SystemEntry
from openlpm.model import (
    BalancePlan,
    BalanceRequest,
    ConsoleLine,
    Convergence,
    CpuModel,
    EvacuationPlan,
    JournalEntry,
    MaintenanceChange,
    MigrationDefaults,
    MigrationRecord,
    MigrationRequest,
    MoverInfo,
    MoverProbe,
    Partition,
    PartitionChanges,
    PartitionProfile,
    PartitionState,
    PartitionSummary,
    Role,
    SystemInfo,
    SystemSummary,
    SystemUtilization,
    ValidationReport,
)
from openlpm.service import install_error_handlers

log = logging.getLogger("openlpm.hmc")
KEEPALIVE_S = 15.0
# The largest request body the console reads (anyone may send one, before signing in).
BODY_LIMIT = MIB


class AddSystem(BaseModel):
    name: str
    agent_url: str
    # The one-time code of an https agent that no console enrolled yet (its TLS dir).
    enrollment_code: str | None = Field(default=None, repr=False)

    @field_validator("agent_url")
    @classmethod
    def _agent_url(cls, url: str) -> str:
        """An http:// or https:// URL with a host that the console's client of the agent
        can read: one it cannot (a control character) would fail each call to it."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"{url!r} is not a URL ({exc})") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"{url!r} is not an agent's address: give its http:// or "
                             f"https:// URL")
        return url


class MoverPair(BaseModel):
    """``lslparmigr -r msp``: a source and target mover service that could carry a migration."""

    source_msp_name: str
    dest_msp_name: str
    source_msp_ipaddr: str
    dest_msp_ipaddr: str
    reachable: bool
    round_trip_ms: float | None = None
    error: str | None = None


class EvacuationRequest(BaseModel):
    """``openlpm evacuate``: the targets to use (default: every other system)."""

    targets: list[str] = []
    dry_run: bool = False


class SystemMigrationInfo(BaseModel):
    """``lslparmigr -r sys``."""

    name: str
    inactive_lpar_mobility_capable: int = 1
    active_lpar_mobility_capable: int = 1
    num_inactive_migrations_supported: int
    num_active_migrations_supported: int
    num_inactive_migrations_in_progress: int
    num_active_migrations_in_progress: int
    convergence: Convergence
    max_downtime_ms: int
    stream_encryption: int


def create_app(db_path: Path, name: str = "", first_admin: tuple[str, str] | None = None,
               san_url: str | None = None, san_key: str | None = None) -> FastAPI:
    """The console's API. ``first_admin`` (user, password) is made a super administrator
    unless that user exists: how a new console gets its first user."""
    hmc = Console.open(db_path, name, first_admin, san_url, san_key)
    inventory, site, board, guard = hmc.inventory, hmc.site, hmc.board, hmc.guard
    engine, recovery = hmc.engine, hmc.recovery
    evacuation, balancer = hmc.evacuation, hmc.balancer
    # The API's description is served behind the guard (api_docs.py), not by FastAPI.
    app = FastAPI(title="openlpm HMC", version=__version__,
                  lifespan=lambda _: hmc.running(), dependencies=[Depends(hmc.guard)],
                  openapi_url=None, docs_url=None, redoc_url=None)
    app.state.console = hmc
    app.add_middleware(BodyLimit, limit=BODY_LIMIT, refused=lambda method, path:
                       hmc.audit.record("-", f"{method} {path}", "refused", "HSCLF517"))
    install_error_handlers(app)
    install_unrouted(app, hmc.guard)
    for router in (users.router, api_docs.router, san.router, consoles.keys, consoles.peer):
        app.include_router(router)

    # -- managed systems -------------------------------------------------------------

    @app.post("/systems")
    async def add_system(body: AddSystem) -> SystemSummary:
        """Manage a system; one whose agent does not answer yet is added as No Connection."""
        entry = SystemEntry(name=body.name, agent_url=body.agent_url)
        inventory.require_new(entry.name)
        if body.enrollment_code is not None:
            await site.enroll_agent(entry.name, entry.agent_url, body.enrollment_code)
        agent = AgentClient(entry.agent_url, entry.name, tls=site.tls_for(entry.agent_url))
        try:
            found = await summary(entry, agent)
        finally:
            await agent.close()
        if found.info is not None and found.info.name != entry.name:
            raise RequestInvalid(
                f"The agent at {entry.agent_url} is managed system {found.info.name}, not "
                f"{entry.name}. Add it under its own name.", code="HSCLF167")
        inventory.add_system(entry)
        if found.info is None:
            return found
        try:
            await site.enroll_movers(entry.name)
        except OpenLpmError as exc:
            log.warning("%s: its mover services got no certificate (%s); enroll them with "
                        "'openlpm mover enroll -m %s'", entry.name, exc.message, entry.name)
        return await summary(entry)

    @app.post("/systems/{system}/movers/enroll")
    async def enroll_movers(system: str) -> list[MoverInfo]:
        """Issue the system's mover services certificates from this console's authority;
        done when a system is added, and again for a mover that lost or never got one."""
        return list(await site.enroll_movers(system))

    @app.get("/systems")
    async def systems() -> list[SystemSummary]:
        return list(await asyncio.gather(*(summary(e) for e in inventory.systems())))

    @app.get("/systems/{system}")
    async def system(system: str) -> SystemSummary:
        return await summary(inventory.system(system))

    async def summary(entry: SystemEntry, agent: AgentClient | None = None) -> SystemSummary:
        try:
            info = await (agent or site.agent(entry.name)).system(timeout=5.0)
        except OpenLpmError as exc:
            return SystemSummary(name=entry.name, state="No Connection",
                                 agent_url=entry.agent_url, message=exc.message)
        return SystemSummary(name=entry.name, state=info.state, agent_url=entry.agent_url,
                             info=info)

    @app.put("/systems/{system}/maintenance")
    async def maintenance(system: str, body: MaintenanceChange) -> SystemInfo:
        info = await site.agent(system).set_maintenance(body.maintenance)
        await board.system_changed(system)
        return info

    @app.patch("/systems/{system}/migration-defaults")
    async def migration_defaults(system: str, body: MigrationDefaults) -> SystemInfo:
        """``migrlpar -o set -r sys``: the convergence defaults of migrations leaving it."""
        return await site.agent(system).set_migration_defaults(
            body.model_dump(exclude_none=True))

    @app.get("/systems/{system}/cpu-models")
    async def cpu_models(system: str) -> list[CpuModel]:
        return await site.agent(system).cpu_models()

    @app.get("/systems/{system}/migration")
    async def system_migration(system: str) -> SystemMigrationInfo:
        info = await site.agent(system).system()
        moving = [m for m in board.in_flight() if system in (m.source, m.target)]
        active = sum(1 for m in moving if m.kind.value == "active")
        return SystemMigrationInfo(
            name=system, num_inactive_migrations_supported=info.max_inactive_migrations,
            num_active_migrations_supported=info.max_active_migrations,
            num_inactive_migrations_in_progress=len(moving) - active,
            num_active_migrations_in_progress=active, convergence=info.convergence,
            max_downtime_ms=info.max_downtime_ms, stream_encryption=int(info.stream_encryption))

    # -- partitions ------------------------------------------------------------------

    def with_migration(system: str, partition: Partition) -> PartitionSummary:
        record = board.in_flight_of(system, partition.name)
        if record is None:
            return PartitionSummary(system=system, partition=partition)
        return PartitionSummary(system=system, partition=partition,
                                migration_state=record.state, migration_id=record.id)

    @app.get("/systems/{system}/partitions")
    async def partitions(system: str) -> list[PartitionSummary]:
        return [with_migration(system, p) for p in await site.agent(system).partitions()]

    async def changed(system: str, summary: PartitionSummary) -> PartitionSummary:
        await board.system_changed(system)
        return summary

    @app.post("/systems/{system}/partitions")
    async def create_partition(system: str, profile: PartitionProfile,
                               request: Request) -> PartitionSummary:
        require_host_devices_role(request.state.user, profile)
        return await changed(system, with_migration(system,
                                                    await site.agent(system).create(profile)))

    @app.get("/systems/{system}/partitions/{name}")
    async def partition(system: str, name: str) -> PartitionSummary:
        return with_migration(system, await site.partition(system, name))

    @app.patch("/systems/{system}/partitions/{name}")
    async def change_partition(system: str, name: str,
                               body: PartitionChanges) -> PartitionSummary:
        await site.partition(system, name)
        return await changed(system, with_migration(
            system, await site.agent(system).set_migration_disabled(
                name, body.migration_disabled)))

    @app.delete("/systems/{system}/partitions/{name}")
    async def remove_partition(system: str, name: str) -> None:
        found = with_migration(system, await site.partition(system, name))
        if found.partition.state != PartitionState.NOT_ACTIVATED or found.migration_id:
            raise WrongState(
                f"Partition {name} on {system} is {found.partition.state.value}; shut it "
                f"down before removing it.", code="HSCLF166")
        await site.agent(system).remove(name)
        await board.system_changed(system)

    @app.post("/systems/{system}/partitions/{name}/activate")
    async def activate(system: str, name: str) -> PartitionSummary:
        return await changed(system, with_migration(system,
                                                    await site.agent(system).activate(name)))

    @app.post("/systems/{system}/partitions/{name}/shutdown")
    async def shutdown(system: str, name: str, immediate: bool = False) -> PartitionSummary:
        return await changed(system, with_migration(
            system, await site.agent(system).shutdown(name, immediate)))

    @app.get("/systems/{system}/partitions/{name}/console")
    async def console(system: str, name: str, lines: int = 100) -> list[ConsoleLine]:
        return await site.agent(system).console(name, lines)

    # -- mobility --------------------------------------------------------------------

    @app.post("/validations")
    async def validate(request: MigrationRequest) -> ValidationReport:
        return (await plan_migration(site, board, request, name)).report

    @app.get("/systems/{system}/mover-pairs")
    async def mover_pairs(request: Request, system: str, target: str,
                          remote_hmc: str | None = None,
                          remote_user: str | None = None) -> list[MoverPair]:
        """Every pair of a source and a target mover service, each probed for real; the
        target a system of the console ``remote_hmc`` names when it is given."""
        if remote_hmc is not None:
            # With this console's keys for another console: as for GET /remote-systems.
            guard.require(request, Role.OPERATOR, "use the keys for another console")
        remote = remote_console(site, remote_hmc, remote_user, name)
        target_agent = site.agent(target) if remote is None else \
            site.remote(remote).agent(target)
        with contextlib.nullcontext() if remote is None else errors_from(remote):
            source_info, target_info = await asyncio.gather(site.agent(system).system(),
                                                            target_agent.system())
        pairs = [(s, t) for s in source_info.movers for t in target_info.movers]

        async def probe(source: MoverInfo, target: MoverInfo) -> MoverProbe:
            try:
                return await site.mover(source.control_url).probe(
                    target.data_address, stream_encrypted(source_info, target_info))
            except OpenLpmError as exc:
                return MoverProbe(peer=target.data_address, reachable=False,
                                  error=exc.message)

        probes = await asyncio.gather(*(probe(s, t) for s, t in pairs))
        return [MoverPair(source_msp_name=s.name, dest_msp_name=t.name,
                          source_msp_ipaddr=s.data_address.rpartition(":")[0],
                          dest_msp_ipaddr=t.data_address.rpartition(":")[0],
                          reachable=p.reachable, round_trip_ms=p.round_trip_ms, error=p.error)
                for (s, t), p in zip(pairs, probes, strict=True)]

    @app.post("/migrations")
    async def migrate(request: MigrationRequest) -> MigrationRecord:
        plan = await plan_migration(site, board, request, name)
        require_passed(plan)
        return await engine.submit(plan)

    @app.post("/systems/{system}/evacuation")
    async def evacuate(system: str, body: EvacuationRequest) -> EvacuationPlan:
        """``openlpm evacuate``: put the system in maintenance and migrate each of its
        partitions to a target that passes validation for it; with ``dry_run``, only the
        plan. Answers the plan, with each started migration's id."""
        if body.dry_run:
            return await evacuation.plan(system, body.targets)
        return await evacuation.run(system, body.targets)

    @app.get("/utilization")
    async def utilization(window: float = Query(default=60.0, gt=0, le=600)) -> \
            list[SystemUtilization]:
        """What each system's running partitions used over the last ``window`` seconds;
        systems whose agent does not answer are left out."""
        return await balancer.utilization(window)

    @app.post("/balance")
    async def balance(request: BalanceRequest) -> BalancePlan:
        """``openlpm balance``: the moves that lower the spread of load across systems,
        each validated; started unless ``dry_run``."""
        return await balancer.run(request)

    @app.post("/systems/{system}/partitions/{name}/migration/stop")
    async def stop(system: str, name: str) -> MigrationRecord:
        """``migrlpar -o s``: the partition stays on the source; the target is cleaned."""
        inventory.system(system)
        record = board.in_flight_of(system, name)
        if record is None:
            raise WrongState(f"Partition {name} has no migration in progress on managed "
                             f"system {system}.", code="HSCLF206")
        return await engine.stop(record.id)

    @app.post("/systems/{system}/partitions/{name}/migration/recover")
    async def recover(system: str, name: str, force: bool = False) -> MigrationRecord:
        """``migrlpar -o r``: settle the partition's newest migration in one place."""
        return await recovery.recover(system, name, force)

    @app.post("/migrations/{migration_id}/stop")
    async def stop_migration(migration_id: str) -> MigrationRecord:
        inventory.migration(migration_id)
        return await engine.stop(migration_id)

    @app.get("/migrations")
    async def migrations(system: str | None = None,
                         partition: str | None = None) -> list[MigrationRecord]:
        return inventory.migrations(system, partition)

    @app.get("/migrations/{migration_id}")
    async def migration(migration_id: str) -> MigrationRecord:
        return inventory.migration(migration_id)

    @app.get("/migrations/{migration_id}/journal")
    async def journal(migration_id: str) -> list[JournalEntry]:
        inventory.migration(migration_id)
        return inventory.journal_of(migration_id)

    @app.get("/migrations/{migration_id}/events")
    async def events(migration_id: str) -> StreamingResponse:
        """Server-Sent Events: the record each time it changes, until it is finished."""
        inventory.migration(migration_id)

        async def stream() -> AsyncIterator[str]:
            async for record in board.watch(migration_id):
                yield f"event: migration\ndata: {record.model_dump_json()}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/events")
    async def all_events() -> StreamingResponse:
        """Server-Sent Events of every change the console makes: ``migration`` (a
        migration record, as it changes), ``system`` (``{"system": NAME}``: its
        partitions changed), ``resync`` (some changes were missed: look again); a comment
        every 15 s keeps idle connections open."""

        async def stream() -> AsyncIterator[str]:
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

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/partitions/{name}/migration")
    async def partition_migration(name: str) -> MigrationRecord:
        """The newest migration of a partition, live if one is in flight."""
        for record in board.in_flight():
            if record.partition == name:
                return record
        found = inventory.migrations(partition=name, limit=1)
        if not found:
            raise ObjectNotFound(f"Partition {name} has never migrated.", code="HSCLF165")
        return found[0]

    install_web_console(app)
    return app
