"""The profile store: a managed system's partitions as they survive any crash.

One JSON file per partition, replaced atomically (write, fsync, rename, fsync the
directory), so a reader sees the old record or the new one, never a torn one. The
profiles are the system's own (0600 in a 0700 directory): they name the partitions'
disks, networks and kernel arguments.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pydantic import ValidationError

from openlpm.errors import InsufficientResources, partition_not_found
from openlpm.model import Frozen, PartitionProfile
from openlpm.private import private_directory, write_private


class ProfileRecord(Frozen):
    profile: PartitionProfile
    activated_once: bool = False
    # Set while a migration brings the partition here: its resources are reserved but
    # the partition is not yet this system's.
    incoming_migration: str | None = None


class ProfileStore:
    def __init__(self, directory: Path, system: str) -> None:
        self.directory = directory
        self.system = system
        private_directory(directory)

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def all(self) -> list[ProfileRecord]:
        records = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                records.append(ProfileRecord.model_validate_json(path.read_bytes()))
            except (OSError, ValidationError):
                continue
        return records

    def get(self, name: str) -> ProfileRecord:
        try:
            return ProfileRecord.model_validate_json(self._path(name).read_bytes())
        except FileNotFoundError:
            raise partition_not_found([name], self.system) from None

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def put(self, record: ProfileRecord) -> None:
        """Store ``record`` for good.

        Raises InsufficientResources (HSCLF136) when the state directory is full; the
        record there stays as it was.
        """
        try:
            write_private(self._path(record.profile.name),
                          record.model_dump_json(indent=1).encode())
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise InsufficientResources(
                f"Managed system {self.system} cannot store partition "
                f"{record.profile.name}: its state directory {self.directory} is full "
                f"({exc.strerror}). Free space there, then try again.",
                code="HSCLF136") from None
        self._sync_directory()

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)
        self._sync_directory()

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
