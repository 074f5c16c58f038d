"""The partition image boots under QEMU TCG and ticks on its serial console."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openlpm.lab.image import KERNEL_ARGS, PartitionImage, build_image

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs QEMU"),
]

TICK = re.compile(rb"^tick (\d+) boot=(\S+)\r?$")


@pytest.fixture
def image(tmp_path: Path) -> PartitionImage:
    return build_image(tmp_path / "image")


@pytest.fixture
async def console(image: PartitionImage) -> AsyncIterator[asyncio.StreamReader]:
    proc = await asyncio.create_subprocess_exec(
        "qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-m", "256",
        "-nodefaults", "-display", "none", "-serial", "stdio",
        "-kernel", str(image.kernel), "-initrd", str(image.initrd), "-append", KERNEL_ARGS,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        yield proc.stdout
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def test_rebuild_keeps_up_to_date_image(image: PartitionImage) -> None:
    built = image.initrd.stat().st_mtime_ns, image.kernel.stat().st_mtime_ns
    assert build_image(image.kernel.parent) == image
    assert (image.initrd.stat().st_mtime_ns, image.kernel.stat().st_mtime_ns) == built
    assert PartitionImage.locate(image.kernel.parent) == image


async def test_image_ticks_on_serial_console(console: asyncio.StreamReader) -> None:
    previous: tuple[int, bytes] | None = None
    async with asyncio.timeout(60):
        while line := await console.readline():
            match = TICK.match(line.rstrip(b"\n"))
            if match is None:
                continue
            tick = int(match[1]), match[2]
            if previous is not None:
                assert tick == (previous[0] + 1, previous[1])
                return
            previous = tick
    pytest.fail("QEMU exited before two ticks appeared")
