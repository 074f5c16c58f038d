"""The console's client of one agent's REST API, and that API's route table.

``AgentRoutes`` is the agent's contract written once: the client builds its URLs from
it, the console's ``/peer`` API allows another console the calls marked ``peer`` (and
reads the partition from their ``subject``), and a unit test holds it to the agent's
real routes (``openlpm.agent.api``).
"""

from __future__ import annotations

import base64
import ssl
from typing import Any

from openlpm.clients.plain_wire import CONSOLE_ANSWER_LIMIT as CONSOLE_ANSWER_LIMIT
from openlpm.clients.wire import KEEPALIVE_S, MIB, EnrollingClient, Route
from openlpm.model import (
    ConsoleLine,
    CpuModel,
    GuestVerdict,
    HostClock,
    IncomingFinished,
    MigrationProgress,
    Partition,
    PartitionProfile,
    PartitionRuntime,
    SanSettings,
    StorageSeen,
    StreamOptions,
    SystemInfo,
    SystemUtilization,
)

# The answers over the client's limit: a partition's UEFI variables (OVMF's largest
# store, 4 MiB, in base64), and its console's last lines (CONSOLE_ANSWER_LIMIT).
NVRAM_ANSWER_LIMIT = 8 * MIB


class AgentRoutes:
    """Every route of the agent's API; ``peer``: a call of another console's migration to
    this console's systems, made through the console's ``/peer`` API."""

    MOVER_ENROLLMENT_CODES = Route("GET", "/movers/enrollment-codes")
    SAN = Route("PUT", "/san")
    SYSTEM = Route("GET", "/system", peer=True)
    CLOCK = Route("GET", "/system/clock", peer=True)
    STORAGE_CHECK = Route("POST", "/system/storage-check", peer=True)
    MAINTENANCE = Route("PUT", "/system/maintenance")
    MIGRATION_DEFAULTS = Route("PATCH", "/system/migration-defaults")
    UTILIZATION = Route("GET", "/system/utilization")
    CPU_MODELS = Route("GET", "/system/cpu-models", peer=True)
    PARTITIONS = Route("GET", "/partitions", peer=True)
    CREATE = Route("POST", "/partitions", peer=True)
    PARTITION = Route("GET", "/partitions/{name}", peer=True, subject="name")
    NVRAM = Route("GET", "/partitions/{name}/nvram", answer_limit=NVRAM_ANSWER_LIMIT)
    CHANGE = Route("PATCH", "/partitions/{name}")
    REMOVE = Route("DELETE", "/partitions/{name}", peer=True, subject="name")
    RUNTIME = Route("GET", "/partitions/{name}/runtime", peer=True, subject="name")
    KEEP = Route("POST", "/partitions/{name}/keep", peer=True, subject="name")
    MOBILITY_CHECK = Route("POST", "/partitions/{name}/mobility-check")
    ACTIVATE = Route("POST", "/partitions/{name}/activate")
    SHUTDOWN = Route("POST", "/partitions/{name}/shutdown")
    INCOMING = Route("POST", "/partitions/{name}/incoming", peer=True, subject="name")
    FINISH_INCOMING = Route("POST", "/partitions/{name}/incoming/finish", peer=True,
                            subject="name")
    OUTGOING = Route("POST", "/partitions/{name}/outgoing")
    PROGRESS = Route("GET", "/partitions/{name}/outgoing")
    TUNE = Route("POST", "/partitions/{name}/outgoing/tune")
    POSTCOPY = Route("POST", "/partitions/{name}/outgoing/postcopy")
    MARK_OUTGOING = Route("POST", "/partitions/{name}/outgoing/inactive")
    UNMARK_OUTGOING = Route("DELETE", "/partitions/{name}/outgoing/inactive")
    CANCEL = Route("POST", "/partitions/{name}/outgoing/cancel")
    CONSOLE = Route("GET", "/partitions/{name}/console", peer=True, subject="name",
                    answer_limit=CONSOLE_ANSWER_LIMIT)
    FINAL_CONSOLE = Route("POST", "/partitions/{name}/console/final",
                          answer_limit=CONSOLE_ANSWER_LIMIT)
    MERGE_CONSOLE = Route("POST", "/partitions/{name}/console", peer=True, subject="name")


AGENT_ROUTES: tuple[Route, ...] = tuple(
    value for value in vars(AgentRoutes).values() if isinstance(value, Route))


class AgentClient(EnrollingClient):
    def __init__(self, base_url: str, system: str = "", timeout: float = 60.0,
                 tls: ssl.SSLContext | bool | None = None,
                 headers: dict[str, str] | None = None,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        super().__init__(base_url, f"Agent of managed system {system}", timeout=timeout,
                         tls=tls, headers=headers, keepalive_s=keepalive_s)

    async def mover_enrollment_codes(self) -> dict[str, str]:
        """The codes of this system's movers that no console enrolled yet, by name."""
        return dict(await self.call(AgentRoutes.MOVER_ENROLLMENT_CODES))

    async def give_san(self, settings: SanSettings) -> None:
        """How this system reaches the site's SAN from now on (kept by the agent)."""
        await self.call(AgentRoutes.SAN, json=settings.model_dump())

    async def system(self, timeout: float | None = None) -> SystemInfo:
        return SystemInfo.model_validate(await self.call(AgentRoutes.SYSTEM, timeout=timeout))

    async def clock(self) -> float:
        """The system's host clock, in seconds since the epoch."""
        return HostClock.model_validate(await self.call(AgentRoutes.CLOCK)).time

    async def utilization(self, window_s: float) -> SystemUtilization:
        return SystemUtilization.model_validate(
            await self.call(AgentRoutes.UTILIZATION, params={"window": window_s}))

    async def check_storage(self, profile: PartitionProfile) -> StorageSeen:
        return StorageSeen.model_validate(await self.call(
            AgentRoutes.STORAGE_CHECK, json={"profile": _wire_profile(profile)}))

    async def set_maintenance(self, on: bool) -> SystemInfo:
        return SystemInfo.model_validate(
            await self.call(AgentRoutes.MAINTENANCE, json={"maintenance": on}))

    async def set_migration_defaults(self, changes: dict[str, object]) -> SystemInfo:
        return SystemInfo.model_validate(
            await self.call(AgentRoutes.MIGRATION_DEFAULTS, json=changes))

    async def cpu_models(self) -> list[CpuModel]:
        return [CpuModel.model_validate(m) for m in await self.call(AgentRoutes.CPU_MODELS)]

    async def partitions(self) -> list[Partition]:
        return [Partition.model_validate(p) for p in await self.call(AgentRoutes.PARTITIONS)]

    async def partition(self, name: str) -> Partition:
        return Partition.model_validate(await self.call(AgentRoutes.PARTITION, name))

    async def create(self, profile: PartitionProfile, incoming_migration: str | None = None,
                     running: bool = False, preferred_lpar_id: int | None = None,
                     nvram: bytes | None = None) -> Partition:
        """Store a new partition (for a migration: reserve its resources); returns it.
        ``preferred_lpar_id``: its id when the profile names none and that one is free;
        ``nvram``: the UEFI variables it brings."""
        body = {"profile": _wire_profile(profile), "incoming_migration": incoming_migration,
                "running": running, "preferred_lpar_id": preferred_lpar_id,
                "nvram": base64.b64encode(nvram).decode() if nvram is not None else None}
        return Partition.model_validate(await self.call(AgentRoutes.CREATE, json=body))

    async def nvram(self, name: str) -> bytes | None:
        """The partition's UEFI variables, if it has any."""
        encoded = (await self.call(AgentRoutes.NVRAM, name))["nvram"]
        return base64.b64decode(encoded) if encoded is not None else None

    async def set_migration_disabled(self, name: str, disabled: bool) -> Partition:
        return Partition.model_validate(await self.call(
            AgentRoutes.CHANGE, name, json={"migration_disabled": disabled}))

    async def runtime(self, name: str) -> PartitionRuntime:
        return PartitionRuntime.model_validate(await self.call(AgentRoutes.RUNTIME, name))

    async def keep(self, name: str) -> Partition:
        return Partition.model_validate(await self.call(AgentRoutes.KEEP, name))

    async def ask_guest(self, name: str) -> GuestVerdict:
        return GuestVerdict.model_validate(await self.call(AgentRoutes.MOBILITY_CHECK, name))

    async def remove(self, name: str) -> None:
        await self.call(AgentRoutes.REMOVE, name)

    async def activate(self, name: str) -> Partition:
        return Partition.model_validate(await self.call(AgentRoutes.ACTIVATE, name))

    async def shutdown(self, name: str, immediate: bool) -> Partition:
        return Partition.model_validate(
            await self.call(AgentRoutes.SHUTDOWN, name, params={"immediate": immediate}))

    async def prepare_incoming(self, name: str, options: StreamOptions) -> str:
        """Where the target QEMU waits for the stream (unix:PATH)."""
        body = await self.call(AgentRoutes.INCOMING, name, json=options.model_dump(mode="json"))
        return str(body["uri"])

    async def finish_incoming(self, name: str) -> IncomingFinished:
        return IncomingFinished.model_validate(
            await self.call(AgentRoutes.FINISH_INCOMING, name))

    async def start_outgoing(self, name: str, uri: str,
                             options: StreamOptions) -> None:
        await self.call(AgentRoutes.OUTGOING, name,
                        json={"uri": uri, "options": options.model_dump(mode="json")})

    async def tune_outgoing(self, name: str, downtime_limit_ms: int) -> None:
        await self.call(AgentRoutes.TUNE, name, json={"downtime_limit_ms": downtime_limit_ms})

    async def start_postcopy(self, name: str) -> None:
        await self.call(AgentRoutes.POSTCOPY, name)

    async def mark_outgoing(self, name: str) -> None:
        await self.call(AgentRoutes.MARK_OUTGOING, name)

    async def unmark_outgoing(self, name: str) -> None:
        await self.call(AgentRoutes.UNMARK_OUTGOING, name)

    async def outgoing_progress(self, name: str, wait: float = 0.0,
                                known_status: str | None = None) -> MigrationProgress:
        params: dict[str, str | float] = {"wait": wait}
        if known_status is not None:
            params["known_status"] = known_status
        return MigrationProgress.model_validate(
            await self.call(AgentRoutes.PROGRESS, name, params=params))

    async def cancel_outgoing(self, name: str) -> None:
        await self.call(AgentRoutes.CANCEL, name)

    async def console(self, name: str, lines: int) -> list[ConsoleLine]:
        body = await self.call(AgentRoutes.CONSOLE, name, params={"lines": lines})
        return [ConsoleLine.model_validate(line) for line in body]

    async def final_console(self, name: str, lines: int) -> list[ConsoleLine]:
        body = await self.call(AgentRoutes.FINAL_CONSOLE, name, params={"lines": lines})
        return [ConsoleLine.model_validate(line) for line in body]

    async def merge_console(self, name: str, history: list[ConsoleLine]) -> None:
        await self.call(AgentRoutes.MERGE_CONSOLE, name,
                        json=[line.model_dump() for line in history])


def _wire_profile(profile: PartitionProfile) -> dict[str, Any]:
    """The profile as an agent takes it; without a UUID not given yet, so an agent of
    the release before partitions had UUIDs (which knows no such field) takes it too."""
    return profile.model_dump(exclude={"uuid"} if profile.uuid is None else None)
