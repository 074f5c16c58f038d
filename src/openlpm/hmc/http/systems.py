"""The console's pages about managed systems: adding them, their maintenance, migration
defaults and CPU models, ``lslparmigr -r sys`` and ``-r msp``, their mover services, and
what their partitions use."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, field_validator

from openlpm import __version__, versions
from openlpm.clients.agent import AgentClient
from openlpm.errors import OpenLpmError, RequestInvalid, SystemUnreachable, WrongState
from openlpm.hmc.console import Console
from openlpm.hmc.http.depends import ConsoleDep
from openlpm.hmc.mobility.checks.facts import stream_encrypted
from openlpm.hmc.mobility.validate import remote_console
from openlpm.hmc.site.remote import errors_from
from openlpm.hmc.site.systems import Site
from openlpm.hmc.stores.inventory import SystemEntry
from openlpm.model import (
    NAME_PATTERN,
    Convergence,
    CpuModel,
    MaintenanceChange,
    MigrationDefaults,
    MoverInfo,
    MoverProbe,
    Role,
    SystemInfo,
    SystemSummary,
    SystemUtilization,
)

log = logging.getLogger("openlpm.hmc")
router = APIRouter()


class AddSystem(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
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
    # The HMC's MSP ids (SystemInfo.mover_id).
    source_msp_id: int | None = None
    dest_msp_id: int | None = None
    source_msp_ipaddr: str
    dest_msp_ipaddr: str
    reachable: bool
    round_trip_ms: float | None = None
    error: str | None = None


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


async def summary(site: Site, entry: SystemEntry,
                  agent: AgentClient | None = None) -> SystemSummary:
    """The system as its agent (``agent``, or the site's) describes it; No Connection
    when the agent does not answer, Version Mismatch when this console does not manage
    its release (``versions.py``)."""
    try:
        info = await (agent or site.any_agent(entry.name)).system(timeout=5.0)
    except OpenLpmError as exc:
        return SystemSummary(name=entry.name, state="No Connection",
                             agent_url=entry.agent_url, message=exc.message,
                             error_code=exc.code)
    refusal = site.note_versions(entry.name, info) if agent is None else \
        versions.system_skew(info, __version__)
    if refusal is not None:
        return SystemSummary(name=entry.name, state="Version Mismatch",
                             agent_url=entry.agent_url, info=info, message=refusal.message,
                             error_code=refusal.code)
    return SystemSummary(name=entry.name, state=info.state, agent_url=entry.agent_url,
                         info=info)


async def add_managed_system(hmc: Console, entry: SystemEntry, code: str | None,
                             must_answer: bool = False,
                             unproven: bool = False) -> SystemSummary:
    """Manage a system (POST /systems, POST /sysconns): enroll its agent with ``code``
    when given (``unproven``: an agent of a release that proves no code gets the code,
    see ``Site.enroll_agent``), check it is the system named and of a release this console manages,
    record it, certify its movers and give it the console's SAN. One whose agent does
    not answer is added as No Connection, unless ``must_answer``: then the agent's error
    is raised."""
    site = hmc.site
    hmc.inventory.require_new(entry.name)
    if code is not None:
        await site.enroll_agent(entry.name, entry.agent_url, code, unproven)
    agent = AgentClient(entry.agent_url, entry.name, tls=site.tls_for(entry.agent_url))
    try:
        found = await summary(site, entry, agent)
    finally:
        await agent.close()
    if found.info is not None and found.info.name != entry.name:
        raise RequestInvalid(
            f"The agent at {entry.agent_url} is managed system {found.info.name}, not "
            f"{entry.name}. Add it under its own name.", code="HSCLF167")
    refusal = versions.system_skew(found.info, __version__) if found.info else None
    if refusal is not None:
        raise refusal
    if found.info is None and must_answer:
        raise SystemUnreachable(f"Managed system {entry.name} at {entry.agent_url} does "
                                f"not answer this console: {found.message}",
                                code=found.error_code or "HSCLF183")
    hmc.inventory.add_system(entry)
    if found.info is None:
        return found
    try:
        await site.enroll_movers(entry.name)
    except OpenLpmError as exc:
        log.warning("%s: its mover services got no certificate (%s); enroll them with "
                    "'openlpm mover enroll -m %s'", entry.name, exc.message, entry.name)
    try:
        await site.give_san(entry.name)
    except OpenLpmError as exc:
        log.warning("%s: its agent did not take the console's SAN (%s); connect the SAN "
                    "again (mksysconn -r san) once it answers", entry.name, exc.message)
    return await summary(site, entry)


async def remove_managed_system(hmc: Console, system: str) -> None:
    """Stop managing ``system`` (DELETE /systems/{system}, DELETE /sysconns/{ip}); its
    partitions keep running, and adding it again shows them again. Refused while a
    migration has it as source or target."""
    hmc.inventory.system(system)
    moving = [m for m in hmc.board.in_flight() if system in (m.source, m.target)]
    if moving:
        raise WrongState(
            f"Managed system {system} takes part in the migration of partition "
            f"{moving[0].partition} ({moving[0].id}); remove it once that migration "
            f"ended (lslparmigr -r lpar -m {system}).", code="HSCLF552")
    hmc.inventory.remove_system(system)
    await hmc.site.forget_agent(system)
    await hmc.board.system_changed(system)


@router.post("/systems")
async def add_system(hmc: ConsoleDep, body: AddSystem) -> SystemSummary:
    """Manage a system; one whose agent does not answer yet is added as No Connection.
    An agent of 0.1, which proves no code, is still enrolled here (mksysconn cannot add
    it: it does not say its name), with a warning that its code travelled."""
    return await add_managed_system(hmc, SystemEntry(name=body.name,
                                                     agent_url=body.agent_url),
                                    body.enrollment_code, unproven=True)


@router.delete("/systems/{system}", status_code=204)
async def remove_system(hmc: ConsoleDep, system: str) -> None:
    await remove_managed_system(hmc, system)


@router.post("/systems/{system}/movers/enroll")
async def enroll_movers(hmc: ConsoleDep, system: str) -> list[MoverInfo]:
    """Issue the system's mover services certificates from this console's authority;
    done when a system is added, and again for a mover that lost or never got one."""
    return list(await hmc.site.enroll_movers(system))


@router.get("/systems")
async def systems(hmc: ConsoleDep) -> list[SystemSummary]:
    return list(await asyncio.gather(*(summary(hmc.site, e)
                                       for e in hmc.inventory.systems())))


@router.get("/systems/{system}")
async def system(hmc: ConsoleDep, system: str) -> SystemSummary:
    return await summary(hmc.site, hmc.inventory.system(system))


@router.put("/systems/{system}/maintenance")
async def maintenance(hmc: ConsoleDep, system: str, body: MaintenanceChange) -> SystemInfo:
    info = await hmc.site.agent(system).set_maintenance(body.maintenance)
    await hmc.board.system_changed(system)
    return info


@router.patch("/systems/{system}/migration-defaults")
async def migration_defaults(hmc: ConsoleDep, system: str,
                             body: MigrationDefaults) -> SystemInfo:
    """``migrlpar -o set -r sys``: the convergence defaults of migrations leaving it."""
    return await hmc.site.agent(system).set_migration_defaults(
        body.model_dump(exclude_none=True))


@router.get("/systems/{system}/cpu-models")
async def cpu_models(hmc: ConsoleDep, system: str) -> list[CpuModel]:
    return await hmc.site.agent(system).cpu_models()


@router.get("/systems/{system}/migration")
async def system_migration(hmc: ConsoleDep, system: str) -> SystemMigrationInfo:
    info = await hmc.site.agent(system).system()
    moving = [m for m in hmc.board.in_flight() if system in (m.source, m.target)]
    active = sum(1 for m in moving if m.kind.value == "active")
    return SystemMigrationInfo(
        name=system, num_inactive_migrations_supported=info.max_inactive_migrations,
        num_active_migrations_supported=info.max_active_migrations,
        num_inactive_migrations_in_progress=len(moving) - active,
        num_active_migrations_in_progress=active, convergence=info.convergence,
        max_downtime_ms=info.max_downtime_ms, stream_encryption=int(info.stream_encryption))


@router.get("/systems/{system}/mover-pairs")
async def mover_pairs(hmc: ConsoleDep, request: Request, system: str, target: str,
                      remote_hmc: str | None = None,
                      remote_user: str | None = None) -> list[MoverPair]:
    """Every pair of a source and a target mover service, each probed for real; the
    target a system of the console ``remote_hmc`` names when it is given."""
    site = hmc.site
    if remote_hmc is not None:
        # With this console's keys for another console: as for GET /remote-systems.
        hmc.guard.require(request, Role.OPERATOR, "use the keys for another console")
    remote = remote_console(site, remote_hmc, remote_user, hmc.name)
    target_agent = site.agent(target) if remote is None else \
        site.remote(remote).agent(target)
    with contextlib.nullcontext() if remote is None else errors_from(remote):
        source_info, target_info = await asyncio.gather(site.agent(system).system(),
                                                        target_agent.system())
    pairs = [(s, t) for s in source_info.movers for t in target_info.movers]
    encrypted = stream_encrypted(source_info, target_info)
    probes = await asyncio.gather(*(_probe(site, s, t, encrypted) for s, t in pairs))
    return [MoverPair(source_msp_name=s.name, dest_msp_name=t.name,
                      source_msp_id=source_info.mover_id(s.name),
                      dest_msp_id=target_info.mover_id(t.name),
                      source_msp_ipaddr=s.data_address.rpartition(":")[0],
                      dest_msp_ipaddr=t.data_address.rpartition(":")[0],
                      reachable=p.reachable, round_trip_ms=p.round_trip_ms, error=p.error)
            for (s, t), p in zip(pairs, probes, strict=True)]


async def _probe(site: Site, source: MoverInfo, target: MoverInfo,
                 encrypted: bool) -> MoverProbe:
    """Whether the source mover reaches the target's, and how fast; the error as a
    probe's when the source mover does not answer."""
    try:
        return await site.mover(source.control_url).probe(target.data_address, encrypted)
    except OpenLpmError as exc:
        return MoverProbe(peer=target.data_address, reachable=False, error=exc.message)


@router.get("/utilization")
async def utilization(hmc: ConsoleDep, window: float = Query(default=60.0, gt=0, le=600)) \
        -> list[SystemUtilization]:
    """What each system's running partitions used over the last ``window`` seconds;
    systems whose agent does not answer are left out."""
    return await hmc.balancer.utilization(window)
