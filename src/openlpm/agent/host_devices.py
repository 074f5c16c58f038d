"""Which of its host's files and directories a managed system gives its partitions.

A partition's host-local disk or share is a path on the agent's host that QEMU, run as
root, opens for the guest: given ``/etc/shadow`` or ``/``, the guest would read (and
write) the host itself. So the agent gives a partition only paths inside the
directories it was started with (``agent serve --allow-dir DIR``), none by default. A
path is resolved first (``os.path.realpath``), so neither ``..`` nor a symbolic link
leads out of an allowed directory; the check runs when a profile is stored and again
just before its QEMU starts, so a profile stored before a directory was allowed (or
after it was not any more) does not start either.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from openlpm.errors import NotPermitted, RequestInvalid
from openlpm.model import PartitionProfile


@dataclass(frozen=True)
class AllowedDirectories:
    """The directories, resolved, under which partitions may have disks and shares."""

    system: str
    directories: tuple[Path, ...] = ()

    @classmethod
    def of(cls, system: str, given: Iterable[Path]) -> AllowedDirectories:
        """Resolve ``--allow-dir`` once, at start.

        Raises RequestInvalid (HSCLF535) for a relative directory or the root, which
        would give partitions every file of the host.
        """
        resolved = []
        for directory in given:
            real = Path(os.path.realpath(directory))
            if not directory.is_absolute() or real == Path("/"):
                raise RequestInvalid(
                    f"--allow-dir {directory}: give an absolute directory other than "
                    f"'/' (which would give partitions every file of the host).",
                    code="HSCLF535")
            resolved.append(real)
        return cls(system, tuple(resolved))

    def check(self, profile: PartitionProfile) -> None:
        """Every disk and share of ``profile`` lies in an allowed directory.

        Raises NotPermitted (HSCLF534) naming the first that does not.
        """
        for kind, paths in (("disk", profile.disks), ("share", profile.shares)):
            for path in paths:
                self._require(profile.name, kind, path)

    def _require(self, partition: str, kind: str, path: str) -> None:
        real = Path(os.path.realpath(path))
        # is_relative_to is by path components, so /srv/vm2 is not inside /srv/vm; a
        # share of an allowed directory's parent is not inside it either.
        if any(real.is_relative_to(directory) for directory in self.directories):
            return
        resolved = f" (resolved: {real})" if str(real) != path else ""
        allowed = ", ".join(map(str, self.directories)) or "none"
        raise NotPermitted(
            f"Partition {partition}'s host-local {kind} {path}{resolved} is not inside a "
            f"directory managed system {self.system} allows for disks and shares "
            f"(allowed: {allowed}). Use a file or directory under an allowed one, or have "
            f"the system's agent started with --allow-dir DIR for the directory that "
            f"holds it; nothing was changed.", code="HSCLF534")
