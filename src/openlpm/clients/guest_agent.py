"""The channel into a partition's operating system: its QEMU guest agent.

``qemu-guest-agent`` (in every distribution) listens on the virtio serial port
``org.qemu.guest_agent.0``; QEMU puts the host's end on a unix socket of the partition's
run directory. The agent answers one client at a time and keeps no session, so each
request here is one connection: synchronize (``guest-sync-delimited`` discards whatever
an earlier client left unread), then one command. A guest without the agent installed
simply never answers, which is an answer too (``GuestAgentAbsent``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openlpm.errors import HypervisorError, SystemUnreachable

# The openlpm guest side's hook, as AIX and Linux on Power run drmgr's
# pmig scripts: "check" asks every script in /etc/openlpm/mobility.d.
MOBILITY_HOOK = "/usr/lib/openlpm/mobility"
# A busy guest (a loaded database, under TCG) may take a moment to answer.
ANSWER_TIMEOUT_S = 3.0
HOOK_TIMEOUT_S = 10.0
LINE_MAX = 1 << 20
# The longest text of the guest's own (its OS name, a veto's reason) passed on.
TEXT_MAX = 200


class GuestAgentAbsent(SystemUnreachable):
    """No guest agent answered on the partition's channel (none installed, or not
    started yet)."""

    default_code = "HSCLA247"


class GuestCommandFailed(HypervisorError):
    """The guest agent answered a command with an error."""

    default_code = "HSCLA248"


@dataclass(frozen=True)
class Completed:
    exit_code: int
    out: str
    err: str


class GuestAgent:
    def __init__(self, socket: Path, partition: str) -> None:
        self.socket = socket
        self.partition = partition

    async def execute(self, command: str, arguments: dict[str, Any] | None = None,
                      timeout: float = ANSWER_TIMEOUT_S) -> Any:
        """One command's ``return`` value.

        Raises GuestAgentAbsent when nothing answers within ``timeout`` seconds, and
        GuestCommandFailed when the guest agent answers with an error.
        """
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(str(self.socket),
                                                                    limit=LINE_MAX)
                try:
                    await self._synchronize(reader, writer)
                    request: dict[str, Any] = {"execute": command}
                    if arguments is not None:
                        request["arguments"] = arguments
                    writer.write(json.dumps(request).encode() + b"\n")
                    await writer.drain()
                    answer = json.loads(await reader.readline())
                finally:
                    writer.close()
        except (OSError, TimeoutError, ValueError, asyncio.LimitOverrunError) as exc:
            raise GuestAgentAbsent(
                f"The guest agent of partition {self.partition} does not answer "
                f"({exc!r}); install and start qemu-guest-agent in the partition.") from exc
        if "error" in answer:
            raise GuestCommandFailed(f"The guest agent of partition {self.partition} refused "
                                     f"{command}: {answer['error'].get('desc', answer)}")
        return answer.get("return")

    async def _synchronize(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        token = secrets.randbelow(1 << 31)
        writer.write(json.dumps({"execute": "guest-sync-delimited",
                                 "arguments": {"id": token}}).encode() + b"\n")
        await writer.drain()
        while True:
            # The agent marks the start of its answer with 0xff; what precedes it is a
            # stale answer to a client that went away.
            await reader.readuntil(b"\xff")
            line = await reader.readline()
            if json.loads(line).get("return") == token:
                return

    async def os_version(self) -> str:
        """The operating system as the HMC's os_version says it:
        ``Linux/Debian 6.1.0-28-cloud-amd64 12``."""
        info = await self.execute("guest-get-osinfo")
        name = str(info.get("name", info.get("id", "unknown"))).removesuffix(" GNU/Linux")
        return from_guest(f"Linux/{name} {info.get('kernel-release', '')} "
                          f"{info.get('version-id', '')}")

    async def set_time(self) -> None:
        """Set the guest's clock from the host's: a guest paused while it moved would
        otherwise run behind by its pause."""
        await self.execute("guest-set-time", {"time": time.time_ns()})

    async def run(self, path: str, *args: str, timeout: float = HOOK_TIMEOUT_S) -> Completed:
        """Run a program in the guest and wait for it to end.

        Raises GuestAgentAbsent, GuestCommandFailed (the program cannot be started), or
        TimeoutError when it runs longer than ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            started = await self.execute("guest-exec", {
                "path": path, "arg": list(args), "capture-output": True}, timeout=timeout)
            while True:
                status = await self.execute("guest-exec-status", {"pid": started["pid"]},
                                            timeout=timeout)
                if status.get("exited"):
                    return Completed(exit_code=int(status.get("exitcode", -1)),
                                     out=_decoded(status.get("out-data")),
                                     err=_decoded(status.get("err-data")))
                await asyncio.sleep(0.1)


def from_guest(text: str, limit: int = TEXT_MAX) -> str:
    """Text a guest chose, fit to be shown: one line of printable characters without
    the listings' separators (a comma or '=' would forge an attribute in ``-F``
    output), at most ``limit`` long."""
    kept = "".join(c if c.isprintable() and c not in ",=\"" else " " for c in text)
    return " ".join(kept.split())[:limit]


def _decoded(data: str | None) -> str:
    return base64.b64decode(data).decode(errors="replace") if data else ""
