"""The console's client of one agent's REST API."""

from __future__ import annotations

import ssl

from openlpm.clients.wire import EnrollingClient, segment
from openlpm.model import (
    ConsoleLine,
    CpuModel,
    GuestVerdict,
    MigrationProgress,
    Partition,
    PartitionProfile,
    PartitionRuntime,
    StorageSeen,
    StreamOptions,
    SystemInfo,
    SystemUtilization,
)


class AgentClient(EnrollingClient):
    def __init__(self, base_url: str, system: str = "", timeout: float = 60.0,
                 tls: ssl.SSLContext | bool | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(base_url, f"Agent of managed system {system}", timeout=timeout,
                         tls=tls, headers=headers)

    async def mover_enrollment_codes(self) -> dict[str, str]:
        """The codes of this system's movers that no console enrolled yet, by name."""
        return dict(await self.request("GET", "/movers/enrollment-codes"))

    async def system(self, timeout: float | None = None) -> SystemInfo:
        return SystemInfo.model_validate(await self.request("GET", "/system", timeout=timeout))

    async def utilization(self, window_s: float) -> SystemUtilization:
        return SystemUtilization.model_validate(
            await self.request("GET", "/system/utilization", params={"window": window_s}))

    async def check_storage(self, profile: PartitionProfile) -> StorageSeen:
        return StorageSeen.model_validate(await self.request(
            "POST", "/system/storage-check", json={"profile": profile.model_dump()}))

    async def set_maintenance(self, on: bool) -> SystemInfo:
        return SystemInfo.model_validate(
            await self.request("PUT", "/system/maintenance", json={"maintenance": on}))

    async def set_migration_defaults(self, changes: dict[str, object]) -> SystemInfo:
        return SystemInfo.model_validate(
            await self.request("PATCH", "/system/migration-defaults", json=changes))

    async def cpu_models(self) -> list[CpuModel]:
        return [CpuModel.model_validate(m)
                for m in await self.request("GET", "/system/cpu-models")]

    async def partitions(self) -> list[Partition]:
        return [Partition.model_validate(p) for p in await self.request("GET", "/partitions")]

    async def partition(self, name: str) -> Partition:
        return Partition.model_validate(await self.request("GET", _partition(name)))

    async def create(self, profile: PartitionProfile, incoming_migration: str | None = None,
                     running: bool = False, preferred_lpar_id: int | None = None) -> Partition:
        """Store a new partition (for a migration: reserve its resources); returns it.
        ``preferred_lpar_id``: its id when the profile names none and that one is free."""
        body = {"profile": profile.model_dump(), "incoming_migration": incoming_migration,
                "running": running, "preferred_lpar_id": preferred_lpar_id}
        return Partition.model_validate(await self.request("POST", "/partitions", json=body))

    async def set_migration_disabled(self, name: str, disabled: bool) -> Partition:
        return Partition.model_validate(await self.request(
            "PATCH", _partition(name), json={"migration_disabled": disabled}))

    async def runtime(self, name: str) -> PartitionRuntime:
        return PartitionRuntime.model_validate(
            await self.request("GET", f"{_partition(name)}/runtime"))

    async def keep(self, name: str) -> Partition:
        return Partition.model_validate(await self.request("POST", f"{_partition(name)}/keep"))

    async def ask_guest(self, name: str) -> GuestVerdict:
        return GuestVerdict.model_validate(
            await self.request("POST", f"{_partition(name)}/mobility-check"))

    async def remove(self, name: str) -> None:
        await self.request("DELETE", _partition(name))

    async def activate(self, name: str) -> Partition:
        return Partition.model_validate(
            await self.request("POST", f"{_partition(name)}/activate"))

    async def shutdown(self, name: str, immediate: bool) -> Partition:
        return Partition.model_validate(await self.request(
            "POST", f"{_partition(name)}/shutdown", params={"immediate": immediate}))

    async def prepare_incoming(self, name: str, options: StreamOptions) -> str:
        """Where the target QEMU waits for the stream (unix:PATH)."""
        body = await self.request("POST", f"{_partition(name)}/incoming",
                                  json=options.model_dump(mode="json"))
        return str(body["uri"])

    async def finish_incoming(self, name: str) -> Partition:
        return Partition.model_validate(
            await self.request("POST", f"{_partition(name)}/incoming/finish"))

    async def start_outgoing(self, name: str, uri: str,
                             options: StreamOptions) -> None:
        await self.request("POST", f"{_partition(name)}/outgoing",
                           json={"uri": uri, "options": options.model_dump(mode="json")})

    async def tune_outgoing(self, name: str, downtime_limit_ms: int) -> None:
        await self.request("POST", f"{_partition(name)}/outgoing/tune",
                           json={"downtime_limit_ms": downtime_limit_ms})

    async def start_postcopy(self, name: str) -> None:
        await self.request("POST", f"{_partition(name)}/outgoing/postcopy")

    async def mark_outgoing(self, name: str) -> None:
        await self.request("POST", f"{_partition(name)}/outgoing/inactive")

    async def unmark_outgoing(self, name: str) -> None:
        await self.request("DELETE", f"{_partition(name)}/outgoing/inactive")

    async def outgoing_progress(self, name: str, wait: float = 0.0,
                                known_status: str | None = None) -> MigrationProgress:
        params: dict[str, str | float] = {"wait": wait}
        if known_status is not None:
            params["known_status"] = known_status
        return MigrationProgress.model_validate(await self.request(
            "GET", f"{_partition(name)}/outgoing", params=params))

    async def cancel_outgoing(self, name: str) -> None:
        await self.request("POST", f"{_partition(name)}/outgoing/cancel")

    async def console(self, name: str, lines: int) -> list[ConsoleLine]:
        body = await self.request("GET", f"{_partition(name)}/console",
                                  params={"lines": lines})
        return [ConsoleLine.model_validate(line) for line in body]

    async def final_console(self, name: str, lines: int) -> list[ConsoleLine]:
        body = await self.request("POST", f"{_partition(name)}/console/final",
                                  params={"lines": lines})
        return [ConsoleLine.model_validate(line) for line in body]

    async def merge_console(self, name: str, history: list[ConsoleLine]) -> None:
        await self.request("POST", f"{_partition(name)}/console",
                           json=[line.model_dump() for line in history])


def _partition(name: str) -> str:
    return f"/partitions/{segment(name)}"
