"""Images made into LUNs: taken from the SAN's import directory only, read as whatever
format ``qemu-img info`` finds them in, and written out raw.

An image comes from outside and is treated as hostile. Many formats may name other
files whose data they read: a qcow2's backing file or external data file, a VMDK's
extents. Made into a LUN, such an image would hand any file of the SAN host (its
fabric authority's key, /etc/shadow) to whoever the LUN is mapped to, so an image is
refused when it names any file but itself. The file is opened once and qemu-img reads
that open file (``/dev/fd/N``) both times, so it cannot be swapped between the check
and the conversion; the conversion names the format found (as ``-f`` would: a raw image
is never probed again) and opens no backing file whatever the image says.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openlpm.errors import HypervisorError, RequestInvalid

QEMU_IMG = "qemu-img"
INFO_TIMEOUT_S = 30
# The formats qemu-img recognises by their content, but LUKS (it needs a key). An image
# in another format qemu-img reports (it should not: these are all it probes) is refused.
FORMATS = frozenset({"raw", "qcow2", "qcow", "qed", "vmdk", "vdi", "vhdx", "vpc",
                     "parallels", "dmg", "cloop", "bochs"})
# Where qemu-img info names the files an image reads: each must be the image itself.
_BACKING_KEYS = ("backing-filename", "full-backing-filename")
_FILE_KEYS = ("filename", "data-file")


@dataclass(frozen=True)
class Source:
    """An image of the import directory, open: ``shown`` is its name in messages."""

    shown: str
    fd: int

    @property
    def path(self) -> str:
        """The open file, as qemu-img is given it (the same file whatever its name
        becomes meanwhile)."""
        return f"/dev/fd/{self.fd}"


@dataclass(frozen=True)
class Image:
    source: Source
    format: str
    size: int  # bytes, as the raw LUN holds them


@contextlib.contextmanager
def open_importable(root: Path, name: str, san: str) -> Iterator[Source]:
    """The image ``name`` (a path, or a name in the import directory ``root``) open, if
    the file opened is inside ``root``: a LUN made of any other file would hand a host's
    secrets (the fabric authority's key) to whoever it is mapped to.

    Raises RequestInvalid: HSCLF618 outside ``root``, HSCLF605 missing or not a file,
    HSCLF623 unreadable.
    """
    root = root.resolve()
    path = (root / name).resolve()
    _inside(root, path, name, san)
    try:
        # Non-blocking: a FIFO put there meanwhile must not hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _missing(name, root, san) from None
    except OSError as exc:
        raise RequestInvalid(f"Image {name} on SAN {san} cannot be read: {exc.strerror}. "
                             f"Let the SAN's user read it.", code="HSCLF623") from exc
    try:
        # Checked again on the file opened: the name may have been swapped meanwhile.
        _inside(root, Path(os.readlink(f"/proc/self/fd/{fd}")), name, san)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _missing(name, root, san)
        yield Source(name, fd)
    finally:
        os.close(fd)


async def inspect(source: Source) -> Image:
    """What the image is, by ``qemu-img info``, if it is one a LUN may be made of.

    Raises RequestInvalid: HSCLF623 when qemu-img cannot read it (or takes over
    INFO_TIMEOUT_S), or it is in a format not in FORMATS; HSCLF622 when it names another
    file (a backing file, an external data file, an extent). HypervisorError (HSCLF626)
    when qemu-img is missing.
    """
    command = [QEMU_IMG, "info", "--output=json", source.path]
    try:
        async with asyncio.timeout(INFO_TIMEOUT_S):
            code, out = await _run(command, source)
    except TimeoutError:
        raise RequestInvalid(f"qemu-img info did not read image {source.shown} within "
                             f"{INFO_TIMEOUT_S} s; is it a disk image?",
                             code="HSCLF623") from None
    if code != 0:
        raise RequestInvalid(f"Image {source.shown} is not a disk image qemu-img can read: "
                             f"{_words(out, source)}. Give a raw, qcow2, VMDK, VDI, VHDX or "
                             f"VHD image.", code="HSCLF623")
    try:
        info = json.loads(out)
        found, size = str(info["format"]), int(info["virtual-size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RequestInvalid(f"qemu-img info said nothing clear of image {source.shown}: "
                             f"{exc}", code="HSCLF623") from exc
    if found not in FORMATS:
        raise RequestInvalid(f"Image {source.shown} is {found}, which the SAN does not take: "
                             f"convert it to raw or qcow2 first.", code="HSCLF623")
    if info.get("encrypted"):
        raise RequestInvalid(f"Image {source.shown} ({found}) is encrypted: the SAN takes "
                             f"images it can read. Decrypt it first ('qemu-img convert').",
                             code="HSCLF623")
    others = sorted(set(_named_files(info, source.path)))
    if others:
        raise RequestInvalid(
            f"Image {source.shown} ({found}) reads other files too ({', '.join(others)}); "
            f"the SAN takes only an image that holds all its data. Make one with "
            f"'qemu-img convert -O qcow2 {source.shown} whole.qcow2' where its files are, "
            f"and put that in the import directory.", code="HSCLF622")
    return Image(source, found, size)


async def write_raw(image: Image, target: Path) -> None:
    """Write the image's disk, raw, into ``target``: an empty file at least its size.

    Raises HypervisorError (HSCLF626) when the copy or the conversion fails.
    """
    if image.format == "raw":
        try:
            await asyncio.to_thread(_copy, image.source.fd, target)
        except OSError as exc:
            raise _unwritten(image, target, exc.strerror or str(exc)) from exc
        return
    opened = {"driver": image.format, "backing": None,
              "file": {"driver": "file", "filename": image.source.path}}
    command = [QEMU_IMG, "convert", "-n", "--target-is-zero", "-O", "raw",
               f"json:{json.dumps(opened)}", str(target.absolute())]
    code, out = await _run(command, image.source)
    if code != 0:
        raise _unwritten(image, target, _words(out, image.source))


async def _run(command: list[str], source: Source) -> tuple[int, bytes]:
    """Run qemu-img on the open source; its exit status and its output (stdout, or
    stderr when it failed). Killed if the caller stops waiting."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, pass_fds=(source.fd,))
    except FileNotFoundError:
        raise HypervisorError(f"The SAN host has no {QEMU_IMG}: install QEMU's tools "
                              f"(qemu-utils).", code="HSCLF626") from None
    try:
        out, err = await proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.shield(proc.wait())
        raise
    code = proc.returncode if proc.returncode is not None else -1
    return code, out if code == 0 else err


def _named_files(info: Any, itself: str) -> Iterator[str]:
    """Every file ``qemu-img info``'s answer says the image reads but itself."""
    if isinstance(info, dict):
        for key, value in info.items():
            if key in _BACKING_KEYS and isinstance(value, str):
                yield value
            elif key in _FILE_KEYS and isinstance(value, str):
                if value != itself:
                    yield value
            else:
                yield from _named_files(value, itself)
    elif isinstance(info, list):
        for item in info:
            yield from _named_files(item, itself)


def _copy(fd: int, target: Path) -> None:
    """A raw image's bytes copied as they are, in the kernel; its holes stay holes."""
    with open(target, "r+b") as out:
        for offset, end in _data(fd):
            out.seek(offset)
            while offset < end:
                sent = os.sendfile(out.fileno(), fd, offset, end - offset)
                if sent == 0:
                    raise OSError(errno.EIO, "the image shrank while it was copied")
                offset += sent


def _data(fd: int) -> Iterator[tuple[int, int]]:
    """The start and end of each stretch of the file that is not a hole."""
    offset, size = 0, os.fstat(fd).st_size
    while offset < size:
        try:
            offset = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                return
            raise
        end = os.lseek(fd, offset, os.SEEK_HOLE)
        yield offset, end
        offset = end


def _inside(root: Path, path: Path, name: str, san: str) -> None:
    if not path.is_relative_to(root):
        raise RequestInvalid(f"SAN {san} copies images from {root} only, and {name} is not "
                             f"there: put the image in that directory (san serve "
                             f"--import-dir).", code="HSCLF618")


def _missing(name: str, root: Path, san: str) -> RequestInvalid:
    return RequestInvalid(f"Image {name} does not exist in {root} on SAN {san}.",
                          code="HSCLF605")


def _words(out: bytes, source: Source) -> str:
    """qemu-img's message, naming the image as the user did."""
    text = out.decode(errors="replace").strip()[-400:]
    return text.replace(source.path, source.shown).removeprefix("qemu-img: ")


def _unwritten(image: Image, target: Path, why: str) -> HypervisorError:
    return HypervisorError(f"Image {image.source.shown} ({image.format}) could not be written "
                           f"into {target.name}: {why}. Check the image with 'qemu-img check' "
                           f"and the space left on the SAN host.", code="HSCLF626")
