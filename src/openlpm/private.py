"""Files only their owner may read (keys, certificates, passwords, tokens, guest data):
written whole or not at all, never readable by others even for a moment.

A service's state directory holds secrets (keys, tokens, password hashes) and its
partitions' data (disk images, console logs), so it is its owner's only: 0700, every
file in it 0600. ``make_private`` tightens one made by an older openlpm or under a
looser umask at start; ``restrict_umask`` makes what the service and its children
(QEMU, qemu-storage-daemon) create from then on private too.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import TextIO

# What a service's own files and its children's get: nothing for group or others.
PRIVATE_UMASK = 0o077


def write_private(path: Path, data: bytes) -> None:
    """``path`` replaced whole by ``data``, 0600 (``write_replacing``)."""
    write_replacing(path, data, 0o600)


def write_replacing(path: Path, data: bytes, mode: int) -> None:
    """``path`` replaced whole by ``data``, with ``mode``: readers see the old file or
    the new one, never a part.

    The new file gets a random name beside ``path`` and is created by this call alone
    (O_CREAT|O_EXCL|O_NOFOLLOW, as mkstemp does), 0600 until its mode is set, before any
    byte is written: a link or file someone planted in the directory is never written
    through or reused. The rename replaces a link at ``path`` itself, not its target.
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def append_private(path: Path) -> TextIO:
    """``path`` opened to append text, made 0600 if it is new."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def create_private(path: Path) -> None:
    """Make ``path`` an empty file if it is missing, and its owner's only either way
    (before anything is written to it, e.g. by SQLite or a copy)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def private_directory(path: Path) -> Path:
    """``path`` made (with its parents) or kept as a directory only its owner enters."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def make_private(root: Path) -> Path:
    """``root`` and everything in it its owner's only: the directory 0700, every file in
    it without group's and others' access. Symbolic links are not followed."""
    private_directory(root)
    for directory, subdirectories, files in os.walk(root):
        for name in (*subdirectories, *files):
            _tighten(Path(directory, name))
    return root


def restrict_umask() -> None:
    """From now on, files this process and its children create are their owner's only."""
    os.umask(PRIVATE_UMASK)


def _tighten(path: Path) -> None:
    """Take group's and others' access from ``path``; a directory gets 0700."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(found.st_mode):
        return
    mode = stat.S_IMODE(found.st_mode)
    wanted = 0o700 if stat.S_ISDIR(found.st_mode) else mode & 0o700
    if mode != wanted:
        os.chmod(path, wanted)
