"""The CLI's client of the console's REST API (where it finds the console:
``console_address.py``)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpx

from openlpm.clients.console_address import TRUST_HINT, hmc_trust
from openlpm.clients.credentials import token_for
from openlpm.clients.plain_wire import CONSOLE_ANSWER_LIMIT, segment
from openlpm.clients.san import LUN_CREATE_TIMEOUT_S
from openlpm.clients.wire import ServiceClient, decode
from openlpm.errors import SystemUnreachable
from openlpm.model import (
    ApiToken,
    AuditEvent,
    AuthorizedKey,
    BalancePlan,
    BalanceRequest,
    ConsoleLine,
    CpuModel,
    EvacuationPlan,
    JournalEntry,
    KeyExchange,
    Lun,
    LunCreate,
    MetCertificate,
    MigrationRecord,
    MigrationRequest,
    MoverInfo,
    PartitionProfile,
    PartitionSummary,
    RemoteConsole,
    ResourceType,
    Session,
    SysConn,
    SysConnCreate,
    SystemInfo,
    SystemSummary,
    SystemUtilization,
    TokenCreated,
    User,
    UserChange,
    UserCreate,
    ValidationReport,
)


class HmcClient(ServiceClient):
    """The console's API as a signed-in user: the token comes from ``token`` or, by
    default, from the credentials ``openlpm login`` saved for this console."""

    trust_hint = TRUST_HINT
    # The console passes on a partition's console lines and lists every system's
    # partitions and migrations.
    answer_limit = CONSOLE_ANSWER_LIMIT

    def __init__(self, base_url: str, token: str | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        token = token or token_for(base_url)
        # unix:PATH: the console's private socket (what the SSH door gives its children).
        local = base_url.startswith("unix:")
        super().__init__("http://console" if local else base_url, "HMC", timeout=120.0,
                         transport=httpx.AsyncHTTPTransport(uds=base_url[5:]) if local
                         else None,
                         headers={"Authorization": f"Bearer {token}"} if token else None,
                         tls=tls or (hmc_trust(base_url) if base_url.startswith("https:")
                                     else None))

    async def __aenter__(self) -> HmcClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def login(self, user: str, password: str) -> Session:
        return Session.model_validate(await self.request(
            "POST", "/login", json={"user": user, "password": password}))

    async def logout(self) -> None:
        await self.request("DELETE", "/login")

    async def users(self) -> list[User]:
        return [User.model_validate(u) for u in await self.request("GET", "/users")]

    async def create_user(self, user: UserCreate) -> User:
        return User.model_validate(await self.request("POST", "/users",
                                                      json=user.model_dump()))

    async def change_user(self, name: str, change: UserChange) -> User:
        return User.model_validate(await self.request(
            "PATCH", f"/users/{segment(name)}", json=change.model_dump(exclude_none=True)))

    async def remove_user(self, name: str) -> None:
        await self.request("DELETE", f"/users/{segment(name)}")

    async def whoami(self) -> User:
        return User.model_validate(await self.request("GET", "/whoami"))

    async def keys(self, user: str) -> list[AuthorizedKey]:
        return [AuthorizedKey.model_validate(k)
                for k in await self.request("GET", f"/users/{segment(user)}/keys")]

    async def add_key(self, user: str, line: str) -> AuthorizedKey:
        return AuthorizedKey.model_validate(await self.request(
            "POST", f"/users/{segment(user)}/keys", json={"key": line}))

    async def remove_key(self, user: str, match: str) -> None:
        await self.request("DELETE", f"/users/{segment(user)}/keys", params={"match": match})

    async def tokens(self) -> list[ApiToken]:
        return [ApiToken.model_validate(t) for t in await self.request("GET", "/tokens")]

    async def create_token(self, name: str) -> TokenCreated:
        return TokenCreated.model_validate(await self.request("POST", "/tokens",
                                                              json={"name": name}))

    async def remove_token(self, token_id: str) -> None:
        await self.request("DELETE", f"/tokens/{segment(token_id)}")

    async def exchange_keys(self, exchange: KeyExchange) -> RemoteConsole:
        return RemoteConsole.model_validate(await self.request(
            "POST", "/authkeys", json=exchange.model_dump()))

    async def remote_certificate(self, ip: str) -> MetCertificate:
        return MetCertificate.model_validate(await self.request(
            "GET", "/authkeys/certificate", params={"ip": ip}))

    async def remote_consoles(self) -> list[RemoteConsole]:
        return [RemoteConsole.model_validate(r) for r in await self.request("GET", "/authkeys")]

    async def forget_keys(self, ip: str, user: str) -> None:
        await self.request("DELETE", "/authkeys", params={"ip": ip, "user": user})

    async def remote_systems(self, ip: str, user: str | None = None) -> list[str]:
        """The managed systems of console ``ip`` as ``user`` sees them there: a call
        through the keys held for it (``mkauthkeys --test``)."""
        params = {"ip": ip} | ({"user": user} if user else {})
        return [str(s) for s in await self.request("GET", "/remote-systems", params=params)]

    async def audit(self, since: float = 0.0) -> list[AuditEvent]:
        return [AuditEvent.model_validate(e) for e in await self.request(
            "GET", "/audit", params={"since": since})]

    async def luns(self) -> list[Lun]:
        return [Lun.model_validate(lun) for lun in await self.request("GET", "/san/luns")]

    async def create_lun(self, request: LunCreate) -> Lun:
        return Lun.model_validate(await self.request(
            "POST", "/san/luns", json=request.model_dump(exclude_none=True),
            timeout=LUN_CREATE_TIMEOUT_S))

    async def delete_lun(self, name: str) -> None:
        await self.request("DELETE", _lun(name))

    async def map_lun(self, name: str, identity: str) -> Lun:
        return Lun.model_validate(await self.request(
            "POST", f"{_lun(name)}/mappings", json={"identity": identity}))

    async def unmap_lun(self, name: str, identity: str) -> Lun:
        return Lun.model_validate(await self.request(
            "DELETE", f"{_lun(name)}/mappings/{segment(identity)}"))

    async def systems(self) -> list[SystemSummary]:
        return [SystemSummary.model_validate(s) for s in await self.request("GET", "/systems")]

    async def system(self, system: str) -> SystemSummary:
        return SystemSummary.model_validate(await self.request("GET", _system(system)))

    async def system_migration(self, system: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.request("GET", f"{_system(system)}/migration")
        return body

    async def set_maintenance(self, system: str, on: bool) -> SystemInfo:
        return SystemInfo.model_validate(await self.request(
            "PUT", f"{_system(system)}/maintenance", json={"maintenance": on}))

    async def evacuate(self, system: str, targets: list[str], dry_run: bool) -> \
            EvacuationPlan:
        return EvacuationPlan.model_validate(await self.request(
            "POST", f"{_system(system)}/evacuation",
            json={"targets": targets, "dry_run": dry_run}))

    async def utilization(self, window_s: float) -> list[SystemUtilization]:
        body = await self.request("GET", "/utilization", params={"window": window_s})
        return [SystemUtilization.model_validate(u) for u in body]

    async def balance(self, request: BalanceRequest) -> BalancePlan:
        return BalancePlan.model_validate(await self.request(
            "POST", "/balance", json=request.model_dump(mode="json")))

    async def connect(self, request: SysConnCreate) -> SysConn:
        return SysConn.model_validate(await self.request(
            "POST", "/sysconns", json=request.model_dump(mode="json")))

    async def connections(self) -> list[SysConn]:
        return [SysConn.model_validate(c) for c in await self.request("GET", "/sysconns")]

    async def disconnect(self, ip: str, resource_type: ResourceType) -> None:
        await self.request("DELETE", f"/sysconns/{segment(ip)}",
                           params={"resource_type": resource_type.value})

    async def reset_connection(self, ip: str, resource_type: ResourceType) -> list[SysConn]:
        return [SysConn.model_validate(c) for c in await self.request(
            "POST", f"/sysconns/{segment(ip)}/reset",
            params={"resource_type": resource_type.value})]

    async def enroll_movers(self, system: str) -> list[MoverInfo]:
        body = await self.request("POST", f"{_system(system)}/movers/enroll")
        return [MoverInfo.model_validate(m) for m in body]

    async def set_migration_defaults(self, system: str, changes: dict[str, str]) -> SystemInfo:
        return SystemInfo.model_validate(await self.request(
            "PATCH", f"{_system(system)}/migration-defaults", json=changes))

    async def cpu_models(self, system: str) -> list[CpuModel]:
        return [CpuModel.model_validate(m)
                for m in await self.request("GET", f"{_system(system)}/cpu-models")]

    async def mover_pairs(self, system: str, target: str, remote_hmc: str | None = None,
                          remote_user: str | None = None) -> list[dict[str, Any]]:
        params = {"target": target, "remote_hmc": remote_hmc, "remote_user": remote_user}
        body: list[dict[str, Any]] = await self.request(
            "GET", f"{_system(system)}/mover-pairs",
            params={key: value for key, value in params.items() if value is not None})
        return body

    async def set_migration_disabled(self, system: str, name: str,
                                     disabled: bool) -> PartitionSummary:
        return PartitionSummary.model_validate(await self.request(
            "PATCH", _partition(system, name),
            json={"migration_disabled": disabled}))

    async def partitions(self, system: str, mobile: bool = False) -> list[PartitionSummary]:
        """The system's partitions; ``mobile``: only those whose state lets them migrate
        (the console's rule: Running, or Not Activated after one activation)."""
        params = {"mobile": True} if mobile else {}
        return [PartitionSummary.model_validate(p) for p in await self.request(
            "GET", f"{_system(system)}/partitions", params=params)]

    async def create_partition(self, system: str, profile: PartitionProfile) -> \
            PartitionSummary:
        return PartitionSummary.model_validate(await self.request(
            "POST", f"{_system(system)}/partitions", json=profile.model_dump()))

    async def remove_partition(self, system: str, name: str) -> None:
        await self.request("DELETE", _partition(system, name))

    async def activate(self, system: str, name: str) -> PartitionSummary:
        return PartitionSummary.model_validate(
            await self.request("POST", f"{_partition(system, name)}/activate"))

    async def shutdown(self, system: str, name: str, immediate: bool) -> PartitionSummary:
        return PartitionSummary.model_validate(await self.request(
            "POST", f"{_partition(system, name)}/shutdown",
            params={"immediate": immediate}))

    async def console(self, system: str, name: str, lines: int) -> list[ConsoleLine]:
        body = await self.request("GET", f"{_partition(system, name)}/console",
                                  params={"lines": lines})
        return [ConsoleLine.model_validate(line) for line in body]

    async def validate(self, request: MigrationRequest) -> ValidationReport:
        return ValidationReport.model_validate(
            await self.request("POST", "/validations", json=request.model_dump()))

    async def migrate(self, request: MigrationRequest) -> MigrationRecord:
        return MigrationRecord.model_validate(
            await self.request("POST", "/migrations", json=request.model_dump()))

    async def stop(self, system: str, name: str) -> MigrationRecord:
        return MigrationRecord.model_validate(await self.request(
            "POST", f"{_partition(system, name)}/migration/stop"))

    async def recover(self, system: str, name: str, force: bool) -> MigrationRecord:
        return MigrationRecord.model_validate(await self.request(
            "POST", f"{_partition(system, name)}/migration/recover",
            params={"force": force}))

    async def migrations(self, system: str) -> list[MigrationRecord]:
        return [MigrationRecord.model_validate(m) for m in
                await self.request("GET", "/migrations", params={"system": system})]

    async def journal(self, migration_id: str) -> list[JournalEntry]:
        return [JournalEntry.model_validate(e) for e in
                await self.request("GET", f"/migrations/{segment(migration_id)}/journal")]

    async def follow(self, migration_id: str) -> AsyncIterator[MigrationRecord]:
        """The migration's record each time it changes, until it is finished."""
        path = f"/migrations/{segment(migration_id)}/events"
        try:
            async with self._http.stream("GET", path, timeout=None) as response:
                if not response.is_success:
                    await response.aread()
                    decode(response, self.what)
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        yield MigrationRecord.model_validate_json(line[6:])
        except httpx.HTTPError as exc:
            raise SystemUnreachable(f"Lost the HMC at {self.base_url} while following "
                                    f"migration {migration_id}: {exc}.") from exc


def _system(system: str) -> str:
    return f"/systems/{segment(system)}"


def _partition(system: str, name: str) -> str:
    return f"{_system(system)}/partitions/{segment(name)}"


def _lun(name: str) -> str:
    return f"/san/luns/{segment(name)}"
