"""The HMC's state names of partitions and migrations, what starts a partition, and the
UUID of a partition that has none: plain Python, so that the listing commands read them
without pydantic (``model.py``'s types use them, and re-export the enumerations)."""

from __future__ import annotations

from enum import StrEnum

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
