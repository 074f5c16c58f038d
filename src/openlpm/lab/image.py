"""The partition boot image: a Debian cloud kernel, a busybox initramfs, a root LUN image.

The initramfs runs one workload as PID 1 that prints ``tick N boot=<boot id>`` on the
serial console once a second. A migration keeps the boot id and the counter running on;
a reboot changes the boot id and restarts the counter, so the console alone tells the two
apart.

``root.img`` holds the same files as an ext4 filesystem, for partitions that boot on SAN:
copied to a LUN, it becomes their root (``openlpm.root=LUN`` on the kernel command line:
the initramfs loads the virtio drivers, mounts the LUN and switches to it).
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

# Where the lab's images are built and its SAN imports LUNs from.
IMAGE_DIR = Path(os.environ.get("OPENLPM_IMAGE_DIR", "/var/cache/openlpm/image"))

KERNEL_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
BUSYBOX = Path("/bin/busybox")
BOOT_DIR = Path("/boot")

# Loaded in this order (each after what it needs): SAN disks and virtual Ethernet are
# virtio devices, and the cloud kernel has their drivers as modules.
DRIVERS = ("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
           "virtio_pci", "virtio_blk", "failover", "net_failover", "virtio_net")
ROOT_IMAGE_MB = 48

# One function per workload, each started in the background before the tick loop takes
# over the foreground.
INIT_SCRIPT = """\
#!/bin/busybox sh
# PID 1 of an openlpm partition; it must never exit, or the kernel panics.

setup() {
    /bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /run
    /bin/busybox --install -s
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    # Booting on SAN, the initramfs hands its /dev over to the root filesystem.
    [ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
    mount -t tmpfs tmpfs /run
    exec </dev/console >/dev/console 2>&1
    for driver in $(cat /lib/modules/order); do insmod /lib/modules/$driver.ko 2>/dev/null; done
}

arg() {
    for word in $(cat /proc/cmdline); do
        case "$word" in "$1"=*) echo "${word#$1=}"; return 0 ;; esac
    done
    return 1
}

# The disk whose virtio serial is $1: a SAN disk's serial is its LUN's name.
disk_named() {
    tries=0
    while [ $tries -lt 100 ]; do
        for disk in /sys/block/vd*; do
            [ "$(cat $disk/serial 2>/dev/null)" = "$1" ] && { echo /dev/${disk##*/}; return 0; }
        done
        tries=$((tries + 1))
        sleep 0.1
    done
    return 1
}

# Virtual Ethernet: openlpm.ip=ADDRESS/PREFIX on the first adapter, and a TCP echo
# service on port 7 there (each connection gets a cat of its own).
network() {
    address=$(arg openlpm.ip) || return 0
    tries=0
    while [ ! -e /sys/class/net/eth0 ] && [ $tries -lt 50 ]; do
        tries=$((tries + 1))
        sleep 0.1
    done
    ip link set lo up
    ip addr add "$address" dev eth0 && ip link set eth0 up || return 0
    echo "openlpm network eth0 $address"
    nc -ll -p 7 -e cat &
}

# Boot on SAN: openlpm.root=LUN mounts that LUN and makes it the root filesystem.
boot_on_san() {
    lun=$(arg openlpm.root) || return 0
    [ -e /.openlpm-san-root ] && return 0
    disk=$(disk_named "$lun") || { echo "openlpm: no disk for root LUN $lun"; return 0; }
    mkdir -p /newroot
    mount -t ext4 "$disk" /newroot || { echo "openlpm: cannot mount $disk"; return 0; }
    echo "openlpm root on SAN LUN $lun ($disk)"
    umount /run /sys /proc
    mount --move /dev /newroot/dev
    exec switch_root /newroot /init
}

# A durable, checked sequence: openlpm.seq=LUN writes record N to sector N of that LUN
# every 100 ms, each write flushed to the SAN before the next ("seq N BOOT SUM", SUM
# the first 8 hex digits of the MD5 of the rest). After a reboot it goes on after the
# last good record. Every 10th record it says on the console which one the disk holds.
sequence() {
    lun=$(arg openlpm.seq) || return 0
    disk=$(disk_named "$lun") || { echo "openlpm: no disk for sequence LUN $lun"; return 0; }
    n=0
    while true; do
        set -- $(dd if="$disk" bs=512 skip=$n count=1 2>/dev/null | head -n 1)
        [ "$1" = seq ] && [ "$2" = "$n" ] || break
        [ "$(echo "seq $2 $3" | md5sum | head -c 8)" = "$4" ] || break
        n=$((n + 1))
    done
    echo "openlpm sequence continues at $n on $lun"
    while true; do
        record="seq $n $BOOT_ID"
        sum=$(echo "$record" | md5sum | head -c 8)
        if ! printf '%-511s\\n' "$record $sum" | dd of="$disk" bs=512 seek=$n count=1 \\
                conv=notrunc,fsync 2>/dev/null; then
            echo "openlpm seq write $n failed"
            sleep 1
            continue
        fi
        [ $((n % 10)) -eq 0 ] && echo "seq $n acked"
        n=$((n + 1))
        sleep 0.1
    done
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
boot_on_san
BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)
echo "openlpm workload started boot=$BOOT_ID"
network
mobility_hook &
sequence &
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
    root_lun: Path

    @classmethod
    def in_dir(cls, directory: Path) -> PartitionImage:
        return cls(kernel=directory / "vmlinuz", initrd=directory / "initrd.img",
                   root_lun=directory / "root.img")

    @classmethod
    def locate(cls, directory: Path) -> PartitionImage:
        """The image already built in ``directory``.

        Raises ImageBuildError when a file is missing.
        """
        image = cls.in_dir(directory)
        for path in (image.kernel, image.initrd, image.root_lun):
            if not path.is_file():
                raise ImageBuildError(
                    f"Partition image file {path} is missing; run 'openlpm image build'.")
        return image


def build_image(out_dir: Path) -> PartitionImage:
    """Build (or bring up to date) the partition image in ``out_dir``.

    Raises ImageBuildError when the cloud kernel or static busybox is not installed or
    cpio or mkfs.ext4 fails.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    image = PartitionImage.in_dir(out_dir)
    kernel = newest_cloud_kernel()
    if _stale(image.kernel, kernel):
        _write_atomically(image.kernel, lambda out: _copy_into(kernel, out))
    busybox = _static_busybox()
    # The init script lives in this module, so editing it must also trigger a rebuild.
    modules = _driver_modules(kernel)
    inputs = (busybox, Path(__file__), *modules)
    if _stale(image.initrd, *inputs) or _stale(image.root_lun, *inputs):
        with tempfile.TemporaryDirectory(prefix="openlpm-root-") as tmp:
            root = Path(tmp)
            _stage_root(root, busybox, modules)
            _write_atomically(image.initrd, lambda out: _write_initramfs(out, root))
            (root / ".openlpm-san-root").touch()
            _write_atomically(image.root_lun, lambda out: _write_ext4(out, root))
    return image


def _driver_modules(kernel: Path) -> list[Path]:
    """The virtio driver modules of ``kernel`` (from its package's /lib/modules)."""
    release = kernel.name.removeprefix("vmlinuz-")
    found = {path.stem: path for path in (Path("/lib/modules") / release / "kernel").rglob(
        "*.ko") if path.stem in DRIVERS}
    missing = [name for name in DRIVERS if name not in found]
    if missing:
        raise ImageBuildError(
            f"The modules {', '.join(missing)} of kernel {release} are missing from "
            f"/lib/modules/{release}; reinstall it with 'apt-get install --reinstall "
            f"{KERNEL_PACKAGE}'.")
    return [found[name] for name in DRIVERS]


def _stage_root(root: Path, busybox: Path, modules: list[Path]) -> None:
    """The partition's files: busybox, the init script, the virtio drivers in load order."""
    for directory in ("bin", "dev", "proc", "sys", "run"):
        (root / directory).mkdir()
    shutil.copy(busybox, root / "bin" / "busybox")
    init = root / "init"
    init.write_text(INIT_SCRIPT)
    init.chmod(0o755)
    drivers = root / "lib" / "modules"
    drivers.mkdir(parents=True)
    for module in modules:
        shutil.copy(module, drivers / module.name)
    (drivers / "order").write_text("\n".join(DRIVERS) + "\n")


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


def _write_ext4(out: BinaryIO, root: Path) -> None:
    """An ext4 filesystem holding ``root``'s files, made without mounting anything."""
    with tempfile.TemporaryDirectory(prefix="openlpm-ext4-") as tmp:
        image = Path(tmp) / "root.img"
        try:
            subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "openlpm-root", "-E",
                            "root_owner=0:0", "-d", str(root), str(image),
                            f"{ROOT_IMAGE_MB}M"], capture_output=True, check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            stderr = getattr(exc, "stderr", b"") or b""
            raise ImageBuildError(
                f"mkfs.ext4 could not build the root LUN image ({exc} "
                f"{stderr.decode(errors='replace')}); install it with 'apt-get install "
                f"e2fsprogs'.") from exc
        with image.open("rb") as made:
            shutil.copyfileobj(made, out)


def _write_initramfs(out: BinaryIO, root: Path) -> None:
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
