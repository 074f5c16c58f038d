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
from dataclasses import dataclass
from pathlib import Path

from openlpm.authority import certificate_request, ensure_key
from openlpm.errors import SystemUnreachable, WrongState
from openlpm.model import Lun, PartitionProfile, host_identity
from openlpm.private import write_private
from openlpm.san.client import SanClient

PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SanDisk:
    """A LUN as a partition's QEMU opens it: through which login, from which export."""

    lun: Lun
    identity: str
    credentials: Path


class SanAccess:
    def __init__(self, system: str, san_url: str | None, directory: Path) -> None:
        self.system = system
        self.san_url = san_url
        self.san = SanClient(san_url) if san_url else None
        self.directory = directory

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
        """Every LUN the partition sees, in a fixed order (both QEMUs of a migration must
        create the same devices): NPIV adapters then vSCSI adapters, by slot; an NPIV
        adapter's LUNs by name.

        Raises WrongState when a vSCSI LUN is not mapped to this system.
        """
        if not profile.virtual_fc_adapters and not profile.virtual_scsi_adapters:
            return []
        disks: list[SanDisk] = []
        for adapter in sorted(profile.virtual_fc_adapters, key=lambda a: a.slot):
            wwpn = adapter.active_wwpn
            credentials = await self.login(wwpn)
            luns = sorted(await self._san().luns(visible_to=wwpn), key=lambda lun: lun.name)
            disks += [SanDisk(lun, wwpn, credentials) for lun in luns]
        host = host_identity(self.system)
        mapped = {lun.name: lun for lun in await self._san().luns(visible_to=host)} \
            if profile.virtual_scsi_adapters else {}
        for scsi in sorted(profile.virtual_scsi_adapters, key=lambda a: a.slot):
            for name in scsi.luns:
                if name not in mapped:
                    raise WrongState(
                        f"LUN {name} of partition {profile.name} (virtual SCSI slot "
                        f"{scsi.slot}) is not mapped to managed system {self.system}. Map "
                        f"it with 'openlpm san map -l {name} --host {self.system}'.",
                        code="HSCLF611")
                disks.append(SanDisk(mapped[name], host, await self.login(host)))
        return disks

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
            raise WrongState(f"Managed system {self.system} has no SAN connection (its agent "
                             f"runs without --san-url).", code="HSCLF610")
        return self.san


def qemu_arguments(disks: list[SanDisk]) -> list[str]:
    """QEMU arguments that attach each LUN as a virtio disk whose serial is its name
    (how the guest finds its boot or data LUN)."""
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
            "tls-creds": logins[disk.identity]}),
            "-device", f"virtio-blk-pci,drive=lun-{lun.name},id=vdisk-{lun.name},"
                       f"serial={lun.name}"]
    return args


def _tls_object(object_id: str, credentials: Path) -> str:
    return f"tls-creds-x509,id={object_id},dir={credentials},endpoint=client"
