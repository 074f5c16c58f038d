"""LUNs made of images: any format qemu-img reads becomes a raw LUN, and an image that
names another file of the host (the attack: a qcow2 whose backing file is a secret) is
refused with nothing left behind.

These run the real qemu-img and qemu-storage-daemon (each LUN made is exported, on
127.0.0.1), as the SAN's user, with no root and no namespace.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openlpm.errors import HypervisorError, OpenLpmError, RequestInvalid
from openlpm.model import LunCreate
from openlpm.san import images
from openlpm.san.luns import MB, San

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-img") is None or shutil.which("qemu-storage-daemon") is None,
    reason="needs QEMU's qemu-img and qemu-storage-daemon")

SECRET = b"root:$y$j9T$the-shadow-file:19000:0:99999:7:::\n" * 4096


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def qemu_img(*argv: str | Path) -> None:
    subprocess.run(["qemu-img", *map(str, argv)], check=True, capture_output=True)


@pytest.fixture
async def san(tmp_path: Path) -> AsyncIterator[San]:
    (tmp_path / "import").mkdir()
    (tmp_path / "secret").write_bytes(SECRET)
    san = San("san1", tmp_path / "state", "127.0.0.1", free_port(), tmp_path / "import")
    try:
        yield san
    finally:
        await san.stop()


def imports(san: San) -> Path:
    return san.import_dir


def disk(path: Path, size: int) -> bytes:
    """A raw disk of ``size`` bytes: data, then a hole, then data."""
    data = os.urandom(size // 3) + bytes(size // 3)
    data += os.urandom(size - len(data))
    path.write_bytes(data)
    return data


def nothing_left(san: San, name: str) -> None:
    """No image file, no record, no export of LUN ``name``."""
    assert not (san.images / f"{name}.img").exists()
    assert all(lun.name != name for lun in san.luns())
    assert not (san.state_dir / "exports" / f"{name}.pid").exists()
    assert not (san.state_dir / "exports" / f"{name}.qmp").exists()


async def refused(san: San, request: LunCreate, code: str,
                  kind: type[OpenLpmError] = RequestInvalid) -> str:
    with pytest.raises(kind) as caught:
        await san.create(request)
    assert caught.value.code == code, caught.value
    nothing_left(san, request.name)
    return caught.value.message


async def test_a_qcow2_image_becomes_a_raw_lun_with_the_same_disk(san: San,
                                                                  tmp_path: Path) -> None:
    data = disk(tmp_path / "disk.raw", 3 * MB + 4096)
    qemu_img("convert", "-f", "raw", "-O", "qcow2", tmp_path / "disk.raw",
             imports(san) / "disk.qcow2")

    lun = await san.create(LunCreate(name="boot1", source="disk.qcow2"))

    image = san.images / "boot1.img"
    assert lun.size_mb == 4 and image.stat().st_size == 4 * MB
    qemu_img("compare", "-f", "raw", "-F", "raw", tmp_path / "disk.raw", image)
    assert image.read_bytes()[:len(data)] == data
    assert stat.S_IMODE(image.stat().st_mode) == 0o600
    assert image.stat().st_blocks * 512 < image.stat().st_size  # the hole stays one
    assert san.lun("boot1") == lun and san._export(lun).pid() is not None


@pytest.mark.parametrize("fmt", ["vmdk", "vdi", "vhdx", "vpc"])
async def test_other_formats_qemu_img_reads_become_raw_luns(san: San, tmp_path: Path,
                                                            fmt: str) -> None:
    disk(tmp_path / "disk.raw", 2 * MB)
    qemu_img("convert", "-f", "raw", "-O", fmt, tmp_path / "disk.raw",
             imports(san) / f"disk.{fmt}")
    await san.create(LunCreate(name="l1", source=f"disk.{fmt}"))
    qemu_img("compare", "-f", "raw", "-F", "raw", tmp_path / "disk.raw",
             san.images / "l1.img")


async def test_a_raw_image_is_copied_and_grown_to_the_size_asked(san: San) -> None:
    data = disk(imports(san) / "root.img", 2 * MB + 100)
    lun = await san.create(LunCreate(name="root1", source="root.img", size_mb=8))
    image = (san.images / "root1.img").read_bytes()
    assert lun.size_mb == 8 and len(image) == 8 * MB
    assert image[:len(data)] == data and image[len(data):] == bytes(8 * MB - len(data))


async def test_a_sparse_raw_image_makes_a_sparse_lun(san: San) -> None:
    with (imports(san) / "root.img").open("wb") as image:
        image.write(b"boot")
        image.seek(32 * MB)
        image.write(b"end")
    await san.create(LunCreate(name="root1", source="root.img"))
    lun = san.images / "root1.img"
    assert lun.stat().st_size == 33 * MB and lun.stat().st_blocks * 512 <= 2 * MB
    qemu_img("compare", "-f", "raw", "-F", "raw", imports(san) / "root.img", lun)


async def test_an_image_found_raw_is_copied_raw_whatever_it_became(san: San,
                                                                   tmp_path: Path) -> None:
    """Found raw, copied byte for byte: never probed again, so a file that became a qcow2
    (backed by a secret) after its check is a LUN of those bytes, not of the secret."""
    evil = imports(san) / "evil.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", tmp_path / "secret", "-F", "raw", evil)
    target = tmp_path / "out.img"
    target.write_bytes(bytes(MB))
    with images.open_importable(imports(san), "evil.qcow2", san.name) as source:
        await images.write_raw(images.Image(source, "raw", MB), target)
    assert target.read_bytes()[:evil.stat().st_size] == evil.read_bytes()
    assert SECRET[:64] not in target.read_bytes()


async def test_a_qcow2_whose_backing_file_is_a_host_secret_is_refused(san: San,
                                                                      tmp_path: Path) -> None:
    """The attack: made into a LUN, this image would be the secret, for whoever the LUN
    is mapped to."""
    secret = tmp_path / "secret"
    qemu_img("create", "-f", "qcow2", "-b", secret, "-F", "raw", imports(san) / "evil.qcow2")

    message = await refused(san, LunCreate(name="loot", source="evil.qcow2"), "HSCLF622")
    assert "evil.qcow2" in message and str(secret) in message


async def test_the_conversion_itself_opens_no_backing_file(san: San, tmp_path: Path) -> None:
    """The second wall, should an image change between its check and its conversion."""
    qemu_img("create", "-f", "qcow2", "-b", tmp_path / "secret", "-F", "raw",
             imports(san) / "evil.qcow2")
    target = tmp_path / "out.img"
    target.write_bytes(bytes(MB))
    with images.open_importable(imports(san), "evil.qcow2", san.name) as source:
        await images.write_raw(images.Image(source, "qcow2", MB), target)
    assert target.read_bytes() == bytes(MB)


async def test_a_backing_file_inside_the_import_directory_is_refused_too(san: San) -> None:
    disk(imports(san) / "base.raw", MB)
    qemu_img("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw",
             imports(san) / "overlay.qcow2")
    await refused(san, LunCreate(name="l1", source="overlay.qcow2"), "HSCLF622")


async def test_a_qcow2_with_an_external_data_file_is_refused(san: San, tmp_path: Path) -> None:
    qemu_img("create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'secret'},data_file_raw=on",
             imports(san) / "evil.qcow2", "1M")
    message = await refused(san, LunCreate(name="loot", source="evil.qcow2"), "HSCLF622")
    assert str(tmp_path / "secret") in message


async def test_a_vmdk_whose_extent_is_a_host_secret_is_refused(san: San,
                                                               tmp_path: Path) -> None:
    (imports(san) / "evil.vmdk").write_text(
        '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\n'
        f'createType="monolithicFlat"\nRW 64 FLAT "{tmp_path / "secret"}" 0\n')
    await refused(san, LunCreate(name="loot", source="evil.vmdk"), "HSCLF622")


async def test_a_damaged_image_is_refused_naming_it(san: San) -> None:
    (imports(san) / "broken.qcow2").write_bytes(b"QFI\xfb\0\0\0\3" + bytes(100))
    message = await refused(san, LunCreate(name="l1", source="broken.qcow2"), "HSCLF623")
    assert "broken.qcow2" in message and "/dev/fd" not in message


async def test_an_image_in_a_format_the_san_does_not_take_is_refused(san: San) -> None:
    # qemu-img times the key derivation by the CPU time it used, and gives up when that
    # reads as nothing ("Unable to get accurate CPU usage"), as it may on a loaded host.
    for attempt in range(5):
        done = subprocess.run(["qemu-img", "create", "-f", "luks", "--object",
                               "secret,id=key,data=passphrase", "-o", "key-secret=key",
                               str(imports(san) / "sealed.luks"), "1M"], capture_output=True)
        if done.returncode == 0:
            break
        assert b"accurate CPU usage" in done.stderr and attempt < 4, done.stderr
    message = await refused(san, LunCreate(name="l1", source="sealed.luks"), "HSCLF623")
    assert "sealed.luks" in message and "luks" in message


async def test_a_lun_smaller_than_its_image_is_refused_never_cut_short(san: San) -> None:
    disk(imports(san) / "root.img", 5 * MB)
    message = await refused(san, LunCreate(name="l1", source="root.img", size_mb=4),
                            "HSCLF624")
    assert "4 MB" in message and "5 MB" in message and "root.img" in message
    assert (await san.create(LunCreate(name="l1", source="root.img", size_mb=5))).size_mb == 5


async def test_an_image_larger_than_any_lun_is_refused(san: San) -> None:
    qemu_img("create", "-f", "qcow2", imports(san) / "huge.qcow2", "2T")
    await refused(san, LunCreate(name="l1", source="huge.qcow2"), "HSCLF625")


async def test_images_outside_the_import_directory_are_refused(san: San,
                                                               tmp_path: Path) -> None:
    (imports(san) / "link.img").symlink_to(tmp_path / "secret")
    for source in ("../secret", str(tmp_path / "secret"), "link.img"):
        await refused(san, LunCreate(name="loot", source=source), "HSCLF618")
    await refused(san, LunCreate(name="l1", source="missing.img"), "HSCLF605")


async def test_a_failed_conversion_leaves_nothing(san: San, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """qemu-img reads the image, then fails half-way through writing the LUN."""
    failing = tmp_path / "qemu-img"
    failing.write_text('#!/bin/sh\n[ "$1" = convert ] || exec qemu-img "$@"\n'
                       'echo "qemu-img: error while writing at byte 0: No space left" >&2\n'
                       'exit 1\n')
    failing.chmod(0o755)
    monkeypatch.setattr(images, "QEMU_IMG", str(failing))
    qemu_img("create", "-f", "qcow2", imports(san) / "disk.qcow2", "1M")
    message = await refused(san, LunCreate(name="l1", source="disk.qcow2"), "HSCLF626",
                            HypervisorError)
    assert "disk.qcow2" in message and "No space left" in message


async def test_a_lun_whose_export_does_not_start_leaves_nothing(
        san: San, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("openlpm.san.exports.STORAGE_DAEMON", "false")
    await refused(san, LunCreate(name="l1", size_mb=8), "HSCLF603", HypervisorError)


async def test_a_name_being_made_is_taken(san: San) -> None:
    qemu_img("create", "-f", "qcow2", imports(san) / "disk.qcow2", "64M")
    first, second = await asyncio.gather(
        san.create(LunCreate(name="l1", source="disk.qcow2")),
        san.create(LunCreate(name="l1", size_mb=8)), return_exceptions=True)
    assert not isinstance(first, BaseException) and first.size_mb == 64
    assert isinstance(second, OpenLpmError) and second.code == "HSCLF602"


async def test_an_empty_lun_is_sparse_and_private(san: San) -> None:
    lun = await san.create(LunCreate(name="data1", size_mb=16))
    image = san.images / "data1.img"
    assert lun.size_mb == 16 and image.stat().st_size == 16 * MB
    assert image.stat().st_blocks == 0 and stat.S_IMODE(image.stat().st_mode) == 0o600
