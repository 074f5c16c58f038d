"""The partition boot image: a Debian cloud kernel and a busybox initramfs.

The initramfs runs one workload as PID 1 that prints ``tick N boot=<boot id>`` on the
serial console once a second. A migration keeps the boot id and the counter running on;
a reboot changes the boot id and restarts the counter, so the console alone tells the two
apart.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from openlpm.errors import OpenLpmError

# quiet keeps kernel messages from interleaving with the ticks; panic=-1 reboots at once
# if the workload (PID 1) ever dies, which the changed boot id then makes visible.
KERNEL_ARGS = "console=ttyS0 quiet panic=-1"

KERNEL_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
BUSYBOX = Path("/bin/busybox")
BOOT_DIR = Path("/boot")

# One function per workload so that a disk writer or a TCP service can later be started
# in the background before the tick loop takes over the foreground.
INIT_SCRIPT = """\
#!/bin/busybox sh
# PID 1 of an openlpm partition; it must never exit, or the kernel panics.

setup() {
    /bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin
    /bin/busybox --install -s
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    exec </dev/console >/dev/console 2>&1
}

# Touches memory the way a real workload would, so a migration has real pages to move:
# openlpm.fill_mb=N on the kernel command line writes N MiB of random data to tmpfs.
fill_memory() {
    for arg in $(cat /proc/cmdline); do
        case "$arg" in openlpm.fill_mb=*) fill_mb="${arg#openlpm.fill_mb=}" ;; esac
    done
    [ -n "$fill_mb" ] || return 0
    mkdir -p /fill
    mount -t tmpfs -o size=$((fill_mb + 16))m tmpfs /fill
    dd if=/dev/urandom of=/fill/data bs=1M count="$fill_mb" 2>/dev/null
    echo "openlpm filled $fill_mb MiB"
}

# A workload that keeps rewriting memory, as a busy database does: openlpm.dirty_mb=N
# rewrites N MiB of tmpfs with random data, over and over, in the background.
dirty_memory() {
    for arg in $(cat /proc/cmdline); do
        case "$arg" in openlpm.dirty_mb=*) dirty_mb="${arg#openlpm.dirty_mb=}" ;; esac
    done
    [ -n "$dirty_mb" ] || return 0
    mkdir -p /dirty
    mount -t tmpfs -o size=$((dirty_mb + 24))m tmpfs /dirty
    # Random data is made once (slow); copying it around is what dirties pages fast.
    dd if=/dev/urandom of=/dirty/seed bs=1M count=8 2>/dev/null
    while true; do
        i=0
        while [ $i -lt $((dirty_mb / 8)) ]; do
            dd if=/dirty/seed of=/dirty/data bs=1M count=8 seek=$((i * 8)) conv=notrunc \
                2>/dev/null
            i=$((i + 1))
        done
    done &
    echo "openlpm dirties $dirty_mb MiB"
}

# The partition's mobility hook, like drmgr's "pmig check" scripts on Power: the console
# asks "check NONCE" on the second serial port before a migration; the answer is
# "ok NONCE", or "veto NONCE REASON" when openlpm.veto=REASON is on the command line.
# openlpm.hook=off leaves it out, like a guest without the tools that answer.
mobility_hook() {
    for arg in $(cat /proc/cmdline); do
        case "$arg" in
            openlpm.veto=*) veto="${arg#openlpm.veto=}" ;;
            openlpm.hook=off) return 0 ;;
        esac
    done
    stty -F /dev/ttyS1 raw -echo || return 0
    exec 3<>/dev/ttyS1
    while read -r request nonce <&3; do
        [ "$request" = check ] || continue
        if [ -n "$veto" ]; then
            echo "veto $nonce $veto" >&3
        else
            echo "ok $nonce" >&3
        fi
    done
}

tick_loop() {
    n=0
    while true; do
        echo "tick $n boot=$BOOT_ID"
        n=$((n + 1))
        sleep 1
    done
}

setup
BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)
echo "openlpm workload started boot=$BOOT_ID"
mobility_hook &
fill_memory
dirty_memory
tick_loop
"""


class ImageBuildError(OpenLpmError):
    """The image cannot be built or found; the message names the fix."""

    default_code = "HSCLF311"


@dataclass(frozen=True)
class PartitionImage:
    kernel: Path
    initrd: Path

    @classmethod
    def in_dir(cls, directory: Path) -> PartitionImage:
        return cls(kernel=directory / "vmlinuz", initrd=directory / "initrd.img")

    @classmethod
    def locate(cls, directory: Path) -> PartitionImage:
        """The image already built in ``directory``.

        Raises ImageBuildError when a file is missing.
        """
        image = cls.in_dir(directory)
        for path in (image.kernel, image.initrd):
            if not path.is_file():
                raise ImageBuildError(
                    f"Partition image file {path} is missing; run 'openlpm image build'.")
        return image


def build_image(out_dir: Path) -> PartitionImage:
    """Build (or bring up to date) the partition image in ``out_dir``.

    Raises ImageBuildError when the cloud kernel or static busybox is not installed or
    cpio fails.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    image = PartitionImage.in_dir(out_dir)
    kernel = newest_cloud_kernel()
    if _stale(image.kernel, kernel):
        _write_atomically(image.kernel, lambda out: _copy_into(kernel, out))
    busybox = _static_busybox()
    # The init script lives in this module, so editing it must also trigger a rebuild.
    if _stale(image.initrd, busybox, Path(__file__)):
        _write_atomically(image.initrd, lambda out: _write_initramfs(out, busybox))
    return image


def newest_cloud_kernel(boot_dir: Path = BOOT_DIR) -> Path:
    """The highest-versioned Debian cloud kernel in ``boot_dir``."""
    kernels = list(boot_dir.glob("vmlinuz-*-cloud-amd64"))
    if not kernels:
        raise ImageBuildError(
            f"No cloud kernel (vmlinuz-*-cloud-amd64) in {boot_dir}; "
            f"install it with 'apt-get install {KERNEL_PACKAGE}'.")
    return max(kernels, key=_version_key)


def _version_key(kernel: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", kernel.name))


def _static_busybox() -> Path:
    if not BUSYBOX.is_file():
        raise ImageBuildError(
            f"{BUSYBOX} is missing; install it with 'apt-get install {BUSYBOX_PACKAGE}'.")
    return BUSYBOX


def _stale(target: Path, *inputs: Path) -> bool:
    if not target.exists():
        return True
    built = target.stat().st_mtime
    return any(source.stat().st_mtime > built for source in inputs)


def _write_atomically(target: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``target`` through a temporary file so a reader never sees half of it."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        os.unlink(tmp_name)
        raise


def _copy_into(source: Path, out: BinaryIO) -> None:
    with source.open("rb") as src:
        shutil.copyfileobj(src, out)


def _write_initramfs(out: BinaryIO, busybox: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="openlpm-initramfs-") as tmp:
        root = Path(tmp)
        (root / "bin").mkdir()
        shutil.copy(busybox, root / "bin" / "busybox")
        init = root / "init"
        init.write_text(INIT_SCRIPT)
        init.chmod(0o755)
        archive = _cpio_newc(root)
    # mtime=0 keeps the gzip header, and with it the image, reproducible.
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(archive)


def _cpio_newc(root: Path) -> bytes:
    # Sorted names and root ownership make the archive independent of who builds it.
    names = sorted(str(path.relative_to(root)) for path in root.rglob("*"))
    try:
        done = subprocess.run(
            ["cpio", "--create", "--format=newc", "--owner=0:0", "--quiet"],
            cwd=root, input="\n".join(names).encode() + b"\n",
            capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        raise ImageBuildError(
            f"cpio could not build the initramfs ({exc} {stderr.decode(errors='replace')}); "
            "install it with 'apt-get install cpio'.") from exc
    return done.stdout
