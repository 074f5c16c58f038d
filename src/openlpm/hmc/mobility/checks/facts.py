"""What validation knows about one requested migration, gathered once, before any check.

Checks are pure functions of these facts, so each is tested without a lab; gathering
is the only part that talks to agents and movers, and it asks everything at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from openlpm.model import (
    CpuModel,
    Finding,
    GuestVerdict,
    MigrationKind,
    MigrationRecord,
    MigrationRequest,
    MoverInfo,
    MoverProbe,
    Partition,
    PartitionState,
    Severity,
    SystemInfo,
)


@dataclass(frozen=True)
class MigrationFacts:
    request: MigrationRequest
    console: str
    partition: Partition
    source: SystemInfo
    target: SystemInfo | None
    target_error: str | None = None
    target_partitions: tuple[Partition, ...] = ()
    in_flight: tuple[MigrationRecord, ...] = ()
    target_cpu_models: tuple[CpuModel, ...] | None = None
    mover_probe: MoverProbe | None = None
    guest: GuestVerdict | None = None
    # The SHA-256 fingerprints of the mover authorities this console trusts: its own, and
    # those of the consoles it exchanged keys with.
    authorities: frozenset[str] = frozenset()
    # The SAN this console manages, why it did not answer, and why the target cannot
    # open the partition's vSCSI LUNs (None: it can, or there are none); the paths to
    # them the target would lack (a LUN not mapped to one of the I/O services used).
    san_url: str | None = None
    san_error: str | None = None
    target_storage_error: str | None = None
    target_lost_paths: tuple[str, ...] = ()

    @property
    def kind(self) -> MigrationKind | None:
        return migration_kind(self.partition)

    @property
    def active(self) -> bool:
        return self.kind == MigrationKind.ACTIVE

    @property
    def name(self) -> str:
        return self.partition.name

    @property
    def encrypted(self) -> bool:
        return self.target is None or stream_encrypted(self.source, self.target)

    def source_mover(self) -> MoverInfo | None:
        return chosen_mover(self.source, self.request.source_msp_name,
                            self.request.source_msp_ipaddr, self.request.source_msp_id)

    def target_mover(self) -> MoverInfo | None:
        if self.target is None:
            return None
        return chosen_mover(self.target, self.request.dest_msp_name,
                            self.request.dest_msp_ipaddr, self.request.dest_msp_id)


def migration_kind(partition: Partition) -> MigrationKind | None:
    if partition.state == PartitionState.RUNNING:
        return MigrationKind.ACTIVE
    if partition.state == PartitionState.NOT_ACTIVATED and partition.activated_once:
        return MigrationKind.INACTIVE
    return None


def stream_encrypted(source: SystemInfo, target: SystemInfo) -> bool:
    """The stream between the movers is encrypted unless both systems turned it off."""
    return source.stream_encryption or target.stream_encryption


def chosen_mover(system: SystemInfo, name: str | None, ipaddr: str | None,
                 msp_id: int | None = None) -> MoverInfo | None:
    """The mover service with that name, address and/or MSP id, or the system's first."""
    return next((m for m in system.movers if name in (None, m.name)
                 and ipaddr in (None, mover_ipaddr(m))
                 and msp_id in (None, system.mover_id(m.name))), None)


def mover_ipaddr(mover: MoverInfo) -> str:
    return mover.data_address.rpartition(":")[0]


def error(code: str, obj: str, message: str, remedy: str = "") -> Finding:
    return Finding(severity=Severity.ERROR, code=code, object=obj, message=message,
                   remedy=remedy)


def warning(code: str, obj: str, message: str, remedy: str = "") -> Finding:
    return Finding(severity=Severity.WARNING, code=code, object=obj, message=message,
                   remedy=remedy)


Check = Callable[["MigrationFacts"], Iterator[Finding]]
# The checks of the target system: a console that manages the target runs them for a
# migration another console drives to it.
TARGET_SIDE: set[Check] = set()


def on_target(check: Check) -> Check:
    """Mark a check as one of the target system's."""
    TARGET_SIDE.add(check)
    return check
