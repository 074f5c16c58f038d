"""The LUNs of a SAN: their image files, their exports, and who each is mapped to.

The list of LUNs is one JSON file written whole (never half) after every change, so a
SAN that stops at any moment finds on restart each LUN with the mappings it last had.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from pydantic import TypeAdapter

from openlpm.errors import ObjectExists, ObjectNotFound, RequestInvalid
from openlpm.model import Lun, LunCreate
from openlpm.private import create_private, make_private, private_directory, write_private
from openlpm.san.exports import Export
from openlpm.san.fabric import Fabric
from openlpm.san.images import Image, inspect, open_importable, write_raw

LUN_LIST = TypeAdapter(list[Lun])
MB = 1 << 20
MAX_LUN_MB = 1 << 20  # as LunCreate.size_mb allows: 1 TiB


class San:
    def __init__(self, name: str, state_dir: Path, data_host: str, first_port: int,
                 import_dir: Path | None = None) -> None:
        """``import_dir``: where images to copy into new LUNs are taken from (default
        STATE_DIR/import); no other file of the SAN host is ever copied."""
        self.name = name
        self.state_dir = state_dir
        self.import_dir = _importable_from(import_dir or state_dir / "import", state_dir)
        self.data_host = data_host
        self.first_port = first_port
        self.images = state_dir / "luns"
        private_directory(self.images)
        self.fabric = Fabric(name, state_dir / "fabric", data_host)
        # The partitions' disks, their mappings and the fabric's keys: the SAN's own,
        # also when an older SAN or a looser umask made them.
        make_private(state_dir)
        self._list = state_dir / "luns.json"
        self._lock = asyncio.Lock()
        self._making: set[str] = set()  # LUNs whose images are being written

    def luns(self) -> list[Lun]:
        try:
            return LUN_LIST.validate_json(self._list.read_bytes())
        except FileNotFoundError:
            return []

    def lun(self, name: str) -> Lun:
        for lun in self.luns():
            if lun.name == name:
                return lun
        raise ObjectNotFound(f"SAN {self.name} has no LUN named {name}.", code="HSCLF601")

    def visible_to(self, identity: str) -> list[Lun]:
        return [lun for lun in self.luns() if identity in lun.mappings]

    async def start(self) -> None:
        """Start the export of every LUN (after the SAN itself started)."""
        for lun in self.luns():
            await self._export(lun).start()

    async def stop(self) -> None:
        for lun in self.luns():
            await self._export(lun).stop()

    async def create(self, request: LunCreate) -> Lun:
        """Make the LUN's image and start its export; on any failure, nothing of it stays.

        Raises ObjectExists (HSCLF602); RequestInvalid for a size or an image it cannot be
        made of (HSCLF605, HSCLF618, HSCLF622-HSCLF625); HypervisorError when the image
        cannot be written (HSCLF626) or the export does not start (HSCLF603).
        """
        async with self._lock:
            if request.name in self._making or any(
                    lun.name == request.name for lun in self.luns()):
                raise ObjectExists(f"SAN {self.name} already has a LUN named {request.name}.",
                                   code="HSCLF602")
            self._making.add(request.name)
        image = self.images / f"{request.name}.img"
        try:
            # Outside the lock: converting an image may take minutes, and mappings (a
            # migration's steps 2 and 6) must not wait for it.
            size = await self._make_image(image, request)
            async with self._lock:
                return await self._add(request.name, size)
        except BaseException:
            image.unlink(missing_ok=True)
            raise
        finally:
            self._making.discard(request.name)

    async def _add(self, name: str, size: int) -> Lun:
        luns = self.luns()
        taken = {lun.port for lun in luns}
        port = next(p for p in range(self.first_port, self.first_port + 65536)
                    if p not in taken)
        lun = Lun(name=name, size_mb=size // MB, host=self.data_host, port=port)
        export = self._export(lun)
        try:
            await export.start()
            self._save([*luns, lun])
        except BaseException:
            await export.stop()
            raise
        return lun

    async def delete(self, name: str) -> None:
        async with self._lock:
            lun = self.lun(name)
            if lun.mappings:
                raise RequestInvalid(
                    f"LUN {name} is mapped to {', '.join(lun.mappings)}; unmap it first.",
                    code="HSCLF604")
            await self._export(lun).stop()
            self._save([other for other in self.luns() if other.name != name])
            (self.images / f"{name}.img").unlink(missing_ok=True)

    async def map(self, name: str, identity: str) -> Lun:
        return await self._change_mappings(name, lambda old: (*old, identity)
                                           if identity not in old else old)

    async def unmap(self, name: str, identity: str) -> Lun:
        return await self._change_mappings(
            name, lambda old: tuple(i for i in old if i != identity))

    async def _change_mappings(self, name: str, change: Callable[[tuple[str, ...]],
                                                                  tuple[str, ...]]) -> Lun:
        async with self._lock:
            lun = self.lun(name)
            changed = lun.model_copy(update={"mappings": change(lun.mappings)})
            # The export's access list first, so an unmapped name is refused at once; the
            # saved list wins at the next start, should the SAN stop in between.
            await self._export(changed).allow(changed.mappings)
            self._save([changed if other.name == name else other for other in self.luns()])
            return changed

    async def _make_image(self, image: Path, request: LunCreate) -> int:
        """Write the new LUN's image file (its owner's only); its size in bytes."""
        if request.source is None:
            if request.size_mb == 0:
                raise RequestInvalid("A new LUN needs a size (size_mb) or a source image.",
                                     code="HSCLF605")
            _fresh(image, request.size_mb * MB)
            return request.size_mb * MB
        with open_importable(self.import_dir, request.source, self.name) as source:
            found = await inspect(source)
            size = lun_size(request, found)
            _fresh(image, size)
            await write_raw(found, image)
        return size

    def _export(self, lun: Lun) -> Export:
        return Export(lun, self.images / f"{lun.name}.img", self.state_dir / "exports",
                      self.fabric.server_credentials)

    def _save(self, luns: list[Lun]) -> None:
        write_private(self._list, LUN_LIST.dump_json(luns, indent=1))


def lun_size(request: LunCreate, image: Image) -> int:
    """The size in bytes of a LUN made of ``image``: the image's, or ``size_mb`` if that is
    larger; whole MB.

    Raises RequestInvalid: HSCLF624 when ``size_mb`` is smaller than the image (a disk
    is never cut short), HSCLF625 when the image is larger than a LUN may be, HSCLF605
    when the image is empty and no size is given.
    """
    shown = image.source.shown
    image_mb = -(-image.size // MB)
    if image_mb > MAX_LUN_MB:
        raise RequestInvalid(f"Image {shown} holds a disk of {image_mb} MB, more than a LUN "
                             f"may ({MAX_LUN_MB} MB).", code="HSCLF625")
    if request.size_mb and request.size_mb < image_mb:
        raise RequestInvalid(
            f"LUN {request.name} of {request.size_mb} MB would be smaller than image {shown} "
            f"({image_mb} MB) and cut it short: give a size of at least {image_mb} MB, or "
            f"none for the image's.", code="HSCLF624")
    size_mb = max(request.size_mb, image_mb)
    if size_mb == 0:
        raise RequestInvalid(f"Image {shown} is empty: give the LUN a size.", code="HSCLF605")
    return size_mb * MB


def _fresh(image: Path, size: int) -> None:
    """``image`` made anew, empty (sparse) and ``size`` bytes long, its owner's only: a
    file left by a SAN stopped while making it must not lend the new LUN its data."""
    image.unlink(missing_ok=True)
    create_private(image)
    os.truncate(image, size)


def _importable_from(import_dir: Path, state_dir: Path) -> Path:
    """The import directory, if none of the SAN's own files (its keys, its fabric's
    authority, the LUN images) are inside it.

    Raises RequestInvalid (HSCLF619) for the root or a directory holding STATE_DIR.
    """
    root, state = import_dir.resolve(), state_dir.resolve()
    if root == Path("/") or state.is_relative_to(root):
        raise RequestInvalid(f"--import-dir {import_dir} holds the SAN's own files "
                             f"({state_dir}): give a directory of images apart from them.",
                             code="HSCLF619")
    return import_dir
