"""The seams between the console's mobility code and the services it drives.

A migration, its validation and its recovery see a managed system's agent, a mover
service and the SAN only through these protocols: the real clients (``clients/agent.py``,
``clients/mover.py``, ``clients/san.py``, also when reached through another console)
satisfy them, and so do the unit tests' fakes of agents and movers
(``tests/unit/fakes.py``); mypy checks both.
"""

from __future__ import annotations

from typing import Protocol

from openlpm.model import (
    ChannelStats,
    ConsoleLine,
    CpuModel,
    GuestVerdict,
    IncomingFinished,
    Lun,
    MigrationProgress,
    MoverInfo,
    Partition,
    PartitionProfile,
    PartitionRuntime,
    StorageSeen,
    StreamOptions,
    SystemInfo,
)


class MigrationAgent(Protocol):
    """A managed system's agent, as a migration drives it (either side)."""

    async def system(self, timeout: float | None = None) -> SystemInfo: ...

    async def clock(self) -> float: ...

    async def check_storage(self, profile: PartitionProfile) -> StorageSeen: ...

    async def cpu_models(self) -> list[CpuModel]: ...

    async def partitions(self) -> list[Partition]: ...

    async def partition(self, name: str) -> Partition: ...

    async def create(self, profile: PartitionProfile, incoming_migration: str | None = None,
                     running: bool = False, preferred_lpar_id: int | None = None,
                     nvram: bytes | None = None) -> Partition: ...

    async def nvram(self, name: str) -> bytes | None: ...

    async def runtime(self, name: str) -> PartitionRuntime: ...

    async def keep(self, name: str) -> Partition: ...

    async def ask_guest(self, name: str) -> GuestVerdict: ...

    async def remove(self, name: str) -> None: ...

    async def prepare_incoming(self, name: str, options: StreamOptions) -> str: ...

    async def finish_incoming(self, name: str) -> IncomingFinished: ...

    async def start_outgoing(self, name: str, uri: str, options: StreamOptions) -> None: ...

    async def tune_outgoing(self, name: str, downtime_limit_ms: int) -> None: ...

    async def start_postcopy(self, name: str) -> None: ...

    async def mark_outgoing(self, name: str) -> None: ...

    async def unmark_outgoing(self, name: str) -> None: ...

    async def outgoing_progress(self, name: str, wait: float = 0.0,
                                known_status: str | None = None) -> MigrationProgress: ...

    async def cancel_outgoing(self, name: str) -> None: ...

    async def console(self, name: str, lines: int) -> list[ConsoleLine]: ...

    async def final_console(self, name: str, lines: int) -> list[ConsoleLine]: ...

    async def merge_console(self, name: str, history: list[ConsoleLine]) -> None: ...


class MigrationMover(Protocol):
    """A mover service, as a migration opens and closes its channel."""

    async def info(self) -> MoverInfo: ...

    async def expect(self, migration_id: str, token: str, partition: str,
                     encrypted: bool) -> None: ...

    async def open(self, migration_id: str, token: str, peer: str, encrypted: bool) -> str: ...

    async def stats(self, migration_id: str) -> ChannelStats: ...

    async def close_channel(self, migration_id: str) -> ChannelStats: ...

    async def close(self) -> None: ...


class MigrationSan(Protocol):
    """The SAN, as a migration moves a partition's LUN mappings (steps 2 and 6)."""

    async def luns(self, visible_to: str | None = None,
                   timeout: float | None = None) -> list[Lun]: ...

    async def map(self, name: str, identity: str) -> Lun: ...

    async def unmap(self, name: str, identity: str) -> Lun: ...
