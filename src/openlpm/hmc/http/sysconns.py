"""The HMC's system connections (``mksysconn``, ``lssysconn``, ``rmsysconn``): managed
systems added by their agent's address alone, and the site's SAN.

A system's name comes from its agent (``GET /enrollment``, read before its certificate
can be checked: the enrollment code, which only its host had, vouches for the exchange
as in ``Site.enroll_agent``); the system is then added exactly as ``POST /systems``
adds it (``add_managed_system``). An agent this console enrolled before (added again
after ``rmsysconn``) needs no code: the console's own identity opens it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Query

from openlpm import __version__, versions
from openlpm.clients.agent import AgentClient
from openlpm.errors import ObjectNotFound, RequestInvalid, SystemUnreachable
from openlpm.hmc.console import Console
from openlpm.hmc.http.depends import ConsoleDep
from openlpm.hmc.http.systems import add_managed_system, remove_managed_system, summary
from openlpm.hmc.stores.inventory import SystemEntry
from openlpm.model import (
    NAME_PATTERN,
    EnrollmentRequest,
    ResourceType,
    SanConnection,
    SanConnectionState,
    SysConn,
    SysConnCreate,
    SystemSummary,
    host_address,
)

router = APIRouter()
ResourceTypeQuery = Annotated[ResourceType, Query()]
Address = Annotated[str, Path(max_length=253)]
NOT_CONNECTED = ("No Connection", "Version Mismatch")
# How long an agent may take to say what it is.
ENROLLMENT_TIMEOUT_S = 10.0


@router.post("/sysconns")
async def connect(hmc: ConsoleDep, body: SysConnCreate) -> SysConn:
    """``mksysconn``: manage the system whose agent answers at the address, or connect
    the SAN there."""
    if body.resource_type == ResourceType.SAN:
        return san_record(await hmc.site.connect_san(body.url(), body.password))
    return system_record(await connect_system(hmc, body.url(), body.password))


async def connect_system(hmc: Console, url: str, code: str | None) -> SystemSummary:
    """Add the system whose agent answers at ``url`` under the name it gives.

    Raises RequestInvalid (HSCLF553) for an agent no console enrolled and no code,
    (HSCLF557) for an agent too old to say its name; SystemUnreachable (HSCLF556) for
    one that answers neither this console's identity nor an unknown client; what
    ``add_managed_system`` raises.
    """
    found = await _enrollment(hmc, url)
    if not found.name:
        raise RequestInvalid(
            f"The agent at {url} does not say its name (a release before 0.2): add it by "
            f"name with the API's POST /systems, or upgrade it.", code="HSCLF557")
    if not re.fullmatch(NAME_PATTERN, found.name):
        # Said before its certificate can be checked: it goes into listings and URLs.
        raise RequestInvalid(
            f"The agent at {url} says its name is {found.name[:60]!r}, which no managed "
            f"system may have (letters, digits, '_', '.', '-', up to 47): give it another "
            f"name (agent serve --name).", code="HSCLF559")
    if not found.enrolled and code is None:
        raise RequestInvalid(
            f"Managed system {found.name} at {url} was never enrolled: give its one-time "
            f"enrollment code with --passwd (the file tls/enrollment-code in its agent's "
            f"state directory).", code="HSCLF553")
    return await add_managed_system(hmc, SystemEntry(name=found.name, agent_url=url),
                                    None if found.enrolled else code, must_answer=True)


async def _enrollment(hmc: Console, url: str) -> EnrollmentRequest:
    """What the agent at ``url`` says of itself: asked as this console (an agent it
    enrolled answers nothing else), else as anyone (an agent no console enrolled yet
    answers its enrollment only, and its certificate cannot be checked yet)."""
    unreachable: SystemUnreachable | None = None
    for tls in (hmc.site.tls_for(url), False):
        probe = AgentClient(url, f"at {url}", timeout=ENROLLMENT_TIMEOUT_S, tls=tls)
        try:
            return await probe.enrollment()
        except SystemUnreachable as exc:
            unreachable = exc
        finally:
            await probe.close()
    raise SystemUnreachable(
        f"The agent at {url} does not answer this console: it does not run or cannot be "
        f"reached there, or another console enrolled it (then empty its agent's tls "
        f"directory, restart it and give its new code with --passwd). "
        f"{unreachable.message if unreachable else ''}", code="HSCLF556")


@router.get("/sysconns")
async def connections(hmc: ConsoleDep) -> list[SysConn]:
    """``lssysconn -r all``: every managed system's connection, then the SAN's."""
    found = await asyncio.gather(*(summary(hmc.site, entry)
                                   for entry in hmc.inventory.systems()))
    san = await hmc.site.san_status()
    return [*(system_record(s) for s in found), *([san_record(san)] if san else [])]


@router.delete("/sysconns/{ip}", status_code=204)
async def disconnect(hmc: ConsoleDep, ip: Address,
                     resource_type: ResourceTypeQuery = ResourceType.SYS) -> None:
    """``rmsysconn -o remove``: stop managing the system(s) at the address (their
    partitions keep running), or disconnect the SAN there."""
    host = _address(ip)
    if resource_type == ResourceType.SAN:
        _san_at(hmc, host)
        await hmc.site.disconnect_san()
        return
    for name in _systems_at(hmc, host):
        await remove_managed_system(hmc, name)


@router.post("/sysconns/{ip}/reset")
async def reset(hmc: ConsoleDep, ip: Address,
                resource_type: ResourceTypeQuery = ResourceType.SYS) -> list[SysConn]:
    """``rmsysconn -o reset``: connect again to the service(s) at the address, asking
    each afresh what it runs."""
    host = _address(ip)
    if resource_type == ResourceType.SAN:
        _san_at(hmc, host)
        san = await hmc.site.san_status()
        return [san_record(san)] if san else []
    names = _systems_at(hmc, host)
    for name in names:
        await hmc.site.forget_agent(name)
    return [system_record(await summary(hmc.site, hmc.inventory.system(name)))
            for name in names]


def system_record(system: SystemSummary) -> SysConn:
    info = system.info
    connected = info is not None and system.state not in NOT_CONNECTED
    return SysConn(resource_type=ResourceType.SYS,
                   type_model_serial_num=f"openlpm*{system.name}",
                   ipaddr=urlsplit(system.agent_url).hostname or "",
                   state="Connected" if connected else system.state,
                   connection_error_code="" if connected else system.error_code or "",
                   name=system.name, version=info.agent_version if info else None)


def san_record(san: SanConnection) -> SysConn:
    refusal = versions.skew(f"SAN {san.name}", san.version, __version__)
    state, code = ("No Connection", "HSCLF183") \
        if san.state != SanConnectionState.CONNECTED else \
        ("Version Mismatch", refusal.code) if refusal else ("Connected", "")
    return SysConn(resource_type=ResourceType.SAN, type_model_serial_num=f"openlpm*{san.name}",
                   ipaddr=urlsplit(san.url).hostname or "", state=state,
                   connection_error_code=code, name=san.name, version=san.version)


def _address(ip: str) -> str:
    try:
        return host_address(ip)
    except ValueError as exc:
        raise RequestInvalid(f"{exc}: give a system's IP address or host name.",
                             code="HSCLF554") from None


def _host_of(url: str) -> str | None:
    try:
        return host_address(urlsplit(url).hostname or "")
    except ValueError:
        return None


def _systems_at(hmc: Console, host: str) -> list[str]:
    """The managed systems whose agent answers at ``host``.

    Raises ObjectNotFound (HSCLF555) when there is none.
    """
    names = [e.name for e in hmc.inventory.systems() if _host_of(e.agent_url) == host]
    if not names:
        raise ObjectNotFound(f"No managed system is connected at {host}: 'lssysconn -r "
                             f"all' lists the connections.", code="HSCLF555")
    return names


def _san_at(hmc: Console, host: str) -> SanConnection:
    san = hmc.site.san_connection()
    if san is None or _host_of(san.url) != host:
        raise ObjectNotFound(f"No SAN is connected at {host}: 'lssysconn -r all' lists "
                             f"the connections.", code="HSCLF555")
    return san
