"""The LUNs of a SAN: their image files, their exports, and who each is mapped to.

The list of LUNs is one JSON file written whole (never half) after every change, so a
SAN that stops at any moment finds on restart each LUN with the mappings it last had.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from pydantic import TypeAdapter

from openlpm.errors import ObjectExists, ObjectNotFound, RequestInvalid
from openlpm.model import Lun, LunCreate
from openlpm.private import create_private, make_private, private_directory, write_private
from openlpm.san.exports import Export
from openlpm.san.fabric import Fabric

LUN_LIST = TypeAdapter(list[Lun])
MB = 1 << 20


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
        async with self._lock:
            luns = self.luns()
            if any(lun.name == request.name for lun in luns):
                raise ObjectExists(f"SAN {self.name} already has a LUN named {request.name}.",
                                   code="HSCLF602")
            image = self.images / f"{request.name}.img"
            size = await asyncio.to_thread(self._make_image, image, request)
            taken = {lun.port for lun in luns}
            port = next(p for p in range(self.first_port, self.first_port + 65536)
                        if p not in taken)
            lun = Lun(name=request.name, size_mb=size // MB, host=self.data_host, port=port)
            try:
                await self._export(lun).start()
            except BaseException:
                image.unlink(missing_ok=True)
                raise
            self._save([*luns, lun])
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

    def _make_image(self, image: Path, request: LunCreate) -> int:
        if request.source is not None:
            source = self._importable(request.source)
            create_private(image)
            shutil.copyfile(source, image)
        elif request.size_mb == 0:
            raise RequestInvalid("A new LUN needs a size (size_mb) or a source image.",
                                 code="HSCLF605")
        else:
            create_private(image)
        size = max(image.stat().st_size, request.size_mb * MB)
        size = -(-size // MB) * MB
        os.truncate(image, size)
        return size

    def _importable(self, name: str) -> Path:
        """The image ``name`` (a path, or a name in the import directory) once resolved,
        if it is a file inside the import directory: a LUN made of any other file would
        hand a host's secrets (the fabric authority's key) to whoever it is mapped to.

        Raises RequestInvalid otherwise.
        """
        root = self.import_dir.resolve()
        source = (root / name).resolve()
        if not source.is_relative_to(root):
            raise RequestInvalid(f"SAN {self.name} copies images from {root} only, and "
                                 f"{name} is not there: put the image in that directory "
                                 f"(san serve --import-dir).", code="HSCLF618")
        if not source.is_file():
            raise RequestInvalid(f"Image {name} does not exist in {root} on SAN "
                                 f"{self.name}.", code="HSCLF605")
        return source

    def _export(self, lun: Lun) -> Export:
        return Export(lun, self.images / f"{lun.name}.img", self.state_dir / "exports",
                      self.fabric.server_credentials)

    def _save(self, luns: list[Lun]) -> None:
        write_private(self._list, LUN_LIST.dump_json(luns, indent=1))


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
