"""A managed system's way to the SAN: fabric logins and the disks of its partitions.

Each identity the system uses (a partition's WWPN in use, or the system's own host
identity for vSCSI) logs in once: a key made here, a certificate from the SAN's fabric,
both in the files QEMU's TLS expects. The SAN decides what each identity may open; this
module only asks it what an identity sees and proves it by opening the export.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from openlpm.authority import certificate_request, ensure_key
from openlpm.clients.san import SanClient
from openlpm.errors import SystemUnreachable, WrongState
from openlpm.model import Lun, PartitionProfile, SanSettings, host_identity
from openlpm.private import write_private

PROBE_TIMEOUT_S = 10.0
# How long a partition's disk I/O waits for a lost connection to its LUN's export to
# come back before the guest sees an error: as an FC path's loss timeout, so a restarted
# export or SAN link costs the partition a pause, not a failed read of its root disk.
SAN_RECONNECT_S = 60


@dataclass(frozen=True)
class SanDisk:
    """A LUN as a partition's QEMU opens it: through which login, from which export."""

    lun: Lun
    identity: str
    credentials: Path


@dataclass
class StoragePaths:
    """What a system reaches of a partition's storage: each LUN once (its first open
    path), and each path it lacks (a LUN not mapped to one of its I/O services)."""

    disks: list[SanDisk] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    # The LUNs of the adapter the partition's firmware boots from (boot_device_slot).
    boot: list[str] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        return {disk.lun.name for disk in self.disks}

    def add(self, disk: SanDisk) -> None:
        if disk.lun.name not in self.names:
            self.disks.append(disk)


class SanAccess:
    def __init__(self, system: str, directory: Path, io_services: int = 1,
                 settings_file: Path | None = None) -> None:
        """``directory``: the fabric logins; ``settings_file``: how to reach the SAN, as
        the console last gave it (``PUT /san``), read here at start.

        Raises WrongState when that file is not such settings.
        """
        self.system = system
        self.io_services = io_services
        self.directory = directory
        self.settings_file = settings_file
        self.san: SanClient | None = None
        self.settings: SanSettings | None = None
        if settings_file is not None and settings_file.exists():
            try:
                self._use(SanSettings.model_validate_json(settings_file.read_bytes()))
            except ValidationError:
                raise WrongState(f"{settings_file} does not say how managed system "
                                 f"{system} reaches its SAN: remove it, and have the "
                                 f"console give the SAN again (connect it again).",
                                 code="HSCLF631") from None

    @property
    def san_url(self) -> str | None:
        return self.settings.url if self.settings else None

    async def use(self, settings: SanSettings) -> None:
        """Reach the SAN as ``settings`` say from now on, and after a restart (kept in
        the settings file, owner-only: it holds the hosts key)."""
        if self.settings_file is not None:
            write_private(self.settings_file, settings.model_dump_json().encode())
        previous = self.san
        self._use(settings)
        if previous is not None:
            await previous.close()

    def _use(self, settings: SanSettings) -> None:
        self.settings = settings
        self.san = SanClient(settings.url, settings.hosts_key, tls=_san_trust(settings))

    async def close(self) -> None:
        if self.san is not None:
            await self.san.close()

    async def login(self, identity: str) -> Path:
        """The directory of ``identity``'s key and certificate, logging in if needed."""
        san = self._san()
        directory = self.directory / re.sub(r"[^A-Za-z0-9_.-]", "_", identity)
        if (directory / "client-cert.pem").exists():
            return directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = directory / "client-key.pem"
        ensure_key(key)
        credentials = await san.login(identity, certificate_request(key.read_bytes(),
                                                                    identity))
        write_private(directory / "ca-cert.pem", credentials.authority.encode())
        write_private(directory / "client-cert.pem", credentials.certificate.encode())
        return directory

    async def disks(self, profile: PartitionProfile) -> list[SanDisk]:
        """Every LUN the partition sees, once each, in a fixed order (both QEMUs of a
        migration must create the same devices): NPIV adapters then vSCSI adapters, by
        slot; an NPIV adapter's LUNs by name.

        A LUN reached through several adapters (redundant paths, one per I/O service)
        is opened through the first whose login the SAN lets in.

        Raises WrongState when an adapter names an I/O service this system lacks, or a
        vSCSI LUN is mapped to none of the I/O services its adapters use here.
        """
        return (await self.paths(profile)).disks

    async def paths(self, profile: PartitionProfile) -> StoragePaths:
        """The partition's disks here, and the paths to them this system lacks."""
        self.check_io_services(profile)
        found = StoragePaths()
        if not profile.virtual_fc_adapters and not profile.virtual_scsi_adapters:
            return found
        for adapter in sorted(profile.virtual_fc_adapters, key=lambda a: a.slot):
            wwpn = adapter.active_wwpn
            credentials = await self.login(wwpn)
            for lun in sorted(await self._san().luns(visible_to=wwpn), key=lambda n: n.name):
                found.add(SanDisk(lun, wwpn, credentials))
                if adapter.slot == profile.boot_device_slot:
                    found.boot.append(lun.name)
        mapped = {io: {lun.name: lun for lun in await self._san().luns(
            visible_to=host_identity(self.system, io))}
            for io in {a.io_service for a in profile.virtual_scsi_adapters}}
        for scsi in sorted(profile.virtual_scsi_adapters, key=lambda a: a.slot):
            identity = host_identity(self.system, scsi.io_service)
            if scsi.slot == profile.boot_device_slot:
                found.boot.extend(scsi.luns)
            for name in scsi.luns:
                if name in mapped[scsi.io_service]:
                    found.add(SanDisk(mapped[scsi.io_service][name], identity,
                                      await self.login(identity)))
                else:
                    found.lost.append(f"LUN {name} through I/O service {scsi.io_service} "
                                      f"(virtual SCSI slot {scsi.slot})")
        for scsi in profile.virtual_scsi_adapters:
            for name in scsi.luns:
                if name not in found.names:
                    raise WrongState(
                        f"LUN {name} of partition {profile.name} (virtual SCSI slot "
                        f"{scsi.slot}) is not mapped to managed system {self.system}"
                        f"{_through(profile, name)}. Map it with 'openlpm san map -l "
                        f"{name} --host {self.system}{_io_option(scsi.io_service)}'.",
                        code="HSCLF611")
        return found

    def check_io_services(self, profile: PartitionProfile) -> None:
        """Raises WrongState when an adapter names an I/O service this system lacks."""
        for adapter in profile.storage_adapters:
            if adapter.io_service > self.io_services:
                raise WrongState(
                    f"Partition {profile.name}'s virtual adapter in slot {adapter.slot} is "
                    f"hosted by I/O service {adapter.io_service}, and managed system "
                    f"{self.system} has {self.io_services}.", code="HSCLF615")

    async def probe(self, disk: SanDisk) -> None:
        """Open the LUN's export as ``disk.identity`` would; return if it lets us in.

        Raises SystemUnreachable when the export refuses or does not answer.
        """
        lun = disk.lun
        command = ["qemu-img", "info", "--object", _tls_object("probe", disk.credentials),
                   "--image-opts", f"driver=nbd,server.type=inet,server.host={lun.host},"
                   f"server.port={lun.port},export={lun.name},tls-creds=probe"]
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                out, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            out = b"no answer"
        if proc.returncode != 0:
            raise SystemUnreachable(
                f"Managed system {self.system} cannot open LUN {disk.lun.name} as "
                f"{disk.identity}: {out.decode(errors='replace').strip()[-300:]}",
                code="HSCLF612")

    def _san(self) -> SanClient:
        if self.san is None:
            raise WrongState(f"Managed system {self.system} has no SAN connection (its "
                             f"console has given it none: connect the console's SAN).",
                             code="HSCLF610")
        return self.san


def _san_trust(settings: SanSettings) -> ssl.SSLContext | None:
    """How the SAN's certificate is checked: against the authority the console gave
    (which certified the SAN for its address), else the system's CA bundle."""
    if settings.authority is None:
        return None
    context = ssl.create_default_context(cadata=settings.authority)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def qemu_arguments(disks: list[SanDisk], boot: Sequence[str] = ()) -> list[str]:
    """QEMU arguments that attach each LUN as a virtio disk whose serial is its name
    (how the guest finds its boot or data LUN); the firmware tries the ``boot`` LUNs,
    in their order, and only those."""
    args: list[str] = []
    logins: dict[str, str] = {}
    for disk in disks:
        if disk.identity not in logins:
            logins[disk.identity] = f"fabric{len(logins)}"
            args += ["-object", _tls_object(logins[disk.identity], disk.credentials)]
        lun = disk.lun
        args += ["-blockdev", json.dumps({
            "driver": "nbd", "node-name": f"lun-{lun.name}", "export": lun.name,
            "server": {"type": "inet", "host": lun.host, "port": str(lun.port)},
            "tls-creds": logins[disk.identity], "reconnect-delay": SAN_RECONNECT_S}),
            "-device", f"virtio-blk-pci,drive=lun-{lun.name},id=vdisk-{lun.name},"
                       f"serial={lun.name}{_boot_index(lun.name, boot)}"]
    return args


def _boot_index(lun: str, boot: Sequence[str]) -> str:
    return f",bootindex={boot.index(lun) + 1}" if lun in boot else ""


def _through(profile: PartitionProfile, lun: str) -> str:
    services = sorted({a.io_service for a in profile.virtual_scsi_adapters if lun in a.luns})
    return "" if services == [1] else \
        f" through I/O service {' or '.join(map(str, services))}"


def _io_option(io_service: int) -> str:
    return "" if io_service == 1 else f" --io-service {io_service}"


def _tls_object(object_id: str, credentials: Path) -> str:
    return f"tls-creds-x509,id={object_id},dir={credentials},endpoint=client"
