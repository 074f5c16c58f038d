"""The HMC's state names of partitions and migrations, a migration's kind and steps, a
finding's severity, what starts a partition, and the UUID of a partition that has none:
plain Python, so that the listing commands and migrlpar read them without pydantic
(``model.py``'s types use them, and re-export the enumerations)."""

from __future__ import annotations

from enum import IntEnum, StrEnum

# The UUID shown for a partition created before partitions had one: derived from its
# name, which a migration keeps, so it is as stable as the partition.
PARTITION_UUID_NAMESPACE = "5d0c7e52-8a3f-4c1e-9b7a-0a1b2c3d4e5f"


def name_uuid(name: str) -> str:
    """The UUID of partition ``name`` when its profile has none."""
    import uuid  # only for such a partition: 2 ms a listing of others does without

    return str(uuid.uuid5(uuid.UUID(PARTITION_UUID_NAMESPACE), name))


class PartitionState(StrEnum):
    """Partition states with the HMC's names (``lssyscfg -F state``)."""

    NOT_ACTIVATED = "Not Activated"
    STARTING = "Starting"
    RUNNING = "Running"
    SHUTTING_DOWN = "Shutting Down"
    MIGRATING_RUNNING = "Migrating - Running"
    MIGRATING_NOT_ACTIVATED = "Migrating - Not Activated"
    ERROR = "Error"


class MigrationState(StrEnum):
    """Migration states with the HMC's names (``lslparmigr -F migration_state``)."""

    NOT_MIGRATING = "Not Migrating"
    STARTING = "Migration Starting"
    IN_PROGRESS = "Migration In Progress"
    STOPPED = "Migration Stopped"
    FAILED = "Migration Failed"
    RECOVERING = "Migration Recovering"
    COMPLETE = "Migration Complete"

    @property
    def finished(self) -> bool:
        return self in (MigrationState.STOPPED, MigrationState.FAILED, MigrationState.COMPLETE)


class Firmware(StrEnum):
    """What starts a partition that boots from its own disk (``boot_device_slot``)."""

    BIOS = "bios"  # SeaBIOS
    UEFI = "uefi"  # OVMF, with the partition's own UEFI variables (its NVRAM)


class MigrationKind(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class MigrationStep(IntEnum):
    """The seven steps of a migration, in the order a job shows them."""

    PROFILE_TO_TARGET = 1
    STORAGE_ON_TARGET = 2
    MOVER_SERVICES = 3
    MIGRATE = 4
    RESUME_ON_TARGET = 5
    STORAGE_OFF_SOURCE = 6
    PROFILE_OFF_SOURCE = 7

    @property
    def label(self) -> str:
        return _STEP_LABELS[self]


_STEP_LABELS = {
    MigrationStep.PROFILE_TO_TARGET: "Profile to target",
    MigrationStep.STORAGE_ON_TARGET: "Storage on target",
    MigrationStep.MOVER_SERVICES: "Mover services",
    MigrationStep.MIGRATE: "Migrate",
    MigrationStep.RESUME_ON_TARGET: "Resume on target",
    MigrationStep.STORAGE_OFF_SOURCE: "Storage off source",
    MigrationStep.PROFILE_OFF_SOURCE: "Profile off source",
}


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
