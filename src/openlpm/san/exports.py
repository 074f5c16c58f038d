"""One LUN's NBD export: a qemu-storage-daemon that lets in only the names mapped to it.

Each export is a process of its own because QEMU checks a client's certificate name
against one access list per NBD server. The list is changed over the daemon's QMP
monitor, so a mapping or an unmapping applies to the next connection without restarting
the export.
Names are checked at the TLS handshake: a connection already open stays open, as a
logged-in FC session does until its initiator logs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from qemu.qmp import QMPClient
from qemu.qmp.error import QMPError

from openlpm.errors import HypervisorError
from openlpm.model import Lun
from openlpm.private import private_directory
from openlpm.processes import runs_with, terminate

STORAGE_DAEMON = "qemu-storage-daemon"


class Export:
    def __init__(self, lun: Lun, image: Path, directory: Path, server_credentials: Path) -> None:
        self.lun = lun
        self.image = image
        self.directory = directory
        self.server_credentials = server_credentials

    @property
    def monitor(self) -> Path:
        return self.directory / f"{self.lun.name}.qmp"

    @property
    def pidfile(self) -> Path:
        return self.directory / f"{self.lun.name}.pid"

    async def allow(self, identities: tuple[str, ...]) -> None:
        """Let exactly these identities (WWPNs, host:SYSTEM) open the LUN from now on.

        Raises HypervisorError when the running export does not take the change.
        """
        if self.pid() is None:
            return
        qmp = QMPClient(f"export {self.lun.name}")
        try:
            await qmp.connect(str(self.monitor))
            await qmp.execute("qom-set", {"path": "mapping", "property": "rules",
                                          "value": _rules(identities)})
        except (QMPError, OSError) as exc:
            raise HypervisorError(f"The export of LUN {self.lun.name} did not take its new "
                                  f"mappings: {exc}", code="HSCLF603") from exc
        finally:
            with contextlib.suppress(QMPError, OSError, EOFError):
                await qmp.disconnect()

    def command(self) -> list[str]:
        lun = self.lun
        return [
            STORAGE_DAEMON,
            "--object", f"tls-creds-x509,id=fabric,dir={self.server_credentials},"
                        "endpoint=server,verify-peer=on",
            "--object", json.dumps({"qom-type": "authz-list", "id": "mapping",
                                    "policy": "deny", "rules": _rules(lun.mappings)}),
            "--blockdev", json.dumps({"driver": "file", "filename": str(self.image),
                                      "node-name": "image"}),
            "--blockdev", json.dumps({"driver": "raw", "file": "image", "node-name": "lun"}),
            "--nbd-server", f"addr.type=inet,addr.host={lun.host},addr.port={lun.port},"
                            "tls-creds=fabric,tls-authz=mapping",
            "--export", f"type=nbd,id=export,node-name=lun,name={lun.name},writable=on",
            "--chardev", f"socket,id=monitor,path={self.monitor},server=on,wait=off",
            "--monitor", "chardev=monitor",
            "--pidfile", str(self.pidfile), "--daemonize",
        ]

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if runs_with(pid, str(self.monitor).encode()) else None

    async def start(self) -> None:
        """Start the export unless it runs, letting in the LUN's mappings as saved;
        returns once it accepts connections.

        Raises HypervisorError when the storage daemon refuses to start.
        """
        if self.pid() is not None:
            await self.allow(self.lun.mappings)
            return
        private_directory(self.directory)
        proc = await asyncio.create_subprocess_exec(
            *self.command(), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise HypervisorError(
                f"The export of LUN {self.lun.name} did not start: "
                f"{out.decode(errors='replace').strip()[-400:]}", code="HSCLF603")

    async def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            await terminate(pid, str(self.monitor).encode())
        self.pidfile.unlink(missing_ok=True)
        self.monitor.unlink(missing_ok=True)


def _rules(identities: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"match": f"CN={identity}", "policy": "allow", "format": "exact"}
            for identity in identities]
