"""Which QEMU accelerator partitions get on this host: KVM when it really works, else TCG.

That /dev/kvm opens proves little: under broken nested virtualisation a KVM guest hangs
early in boot. So the verdict comes from booting the partition image under KVM and
waiting for its first tick. That costs seconds, so the verdict is cached for the host's
boot, keyed by its boot id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from openlpm.lab.image import KERNEL_ARGS, PartitionImage
from openlpm.paths import RUN_ROOT

log = logging.getLogger("openlpm.lab.accel")

DEFAULT_CACHE = RUN_ROOT / "accel.json"
HOST_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
QEMU_BINARY = "qemu-system-x86_64"
ACCELERATORS = frozenset({"kvm", "tcg"})


async def probe_accelerator(image: PartitionImage, timeout: float = 8.0,
                            cache: Path = DEFAULT_CACHE) -> str:
    """"kvm" if ``image`` boots to its first tick under KVM within ``timeout`` s, else "tcg".

    Probes at most once per host boot; later calls read the verdict from ``cache``.
    Raises FileNotFoundError when QEMU is not installed.
    """
    async def probe() -> str:
        return "kvm" if await kvm_boots(image, timeout) else "tcg"

    return await cached_verdict(cache, host_boot_id(), probe)


def host_boot_id() -> str:
    return HOST_BOOT_ID.read_text().strip()


async def cached_verdict(cache: Path, boot_id: str,
                         probe: Callable[[], Awaitable[str]]) -> str:
    """The verdict cached for ``boot_id``, or a fresh one from ``probe``, then cached."""
    verdict = read_cache(cache, boot_id)
    if verdict is None:
        verdict = await probe()
        write_cache(cache, boot_id, verdict)
    return verdict


def read_cache(cache: Path, boot_id: str) -> str | None:
    """The cached verdict if it was made during boot ``boot_id``; None otherwise."""
    try:
        entry = json.loads(cache.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("boot_id") != boot_id:
        return None
    accel = entry.get("accel")
    return str(accel) if accel in ACCELERATORS else None


def write_cache(cache: Path, boot_id: str, accel: str) -> None:
    # The cache only saves a probe, so failing to write it must not fail the caller.
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"boot_id": boot_id, "accel": accel}))
        tmp.replace(cache)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.warning("cannot cache accelerator verdict in %s: %s", cache, exc)


def kvm_usable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


async def kvm_boots(image: PartitionImage, timeout: float) -> bool:
    """Whether ``image`` prints its first tick under KVM within ``timeout`` seconds."""
    if not kvm_usable():
        log.info("/dev/kvm cannot be opened read-write; using TCG")
        return False
    proc = await asyncio.create_subprocess_exec(
        QEMU_BINARY, "-accel", "kvm", "-machine", "q35", "-m", "256",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-serial", "stdio", "-kernel", str(image.kernel), "-initrd", str(image.initrd),
        "-append", KERNEL_ARGS,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(timeout):
            booted = await _first_tick(proc.stdout)
    except TimeoutError:
        booted = False
    finally:
        # Kill by pid whatever happened, cancellation included; the guest never halts.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
    log.info("KVM test boot %s", "reached the first tick" if booted else "failed")
    return booted


async def _first_tick(console: asyncio.StreamReader | None) -> bool:
    """Read the console until the first tick (True) or until QEMU exits (False)."""
    assert console is not None  # stdout=PIPE always gives a reader
    while line := await console.readline():
        if line.startswith(b"tick 0 "):
            return True
    return False
