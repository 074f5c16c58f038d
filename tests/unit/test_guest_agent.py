"""The guest agent's protocol as qemu-guest-agent speaks it, against a scripted agent on
a unix socket: synchronization past stale answers, os_version, running the mobility
hook, and a guest with no agent."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from openlpm.agent.qemu import BootImage, QemuPartition, QemuSettings
from openlpm.clients.guest_agent import GuestAgent, GuestAgentAbsent, GuestCommandFailed

OSINFO = {"id": "debian", "name": "Debian GNU/Linux", "version-id": "12",
          "kernel-release": "6.1.0-28-cloud-amd64", "machine": "x86_64"}
Answer = Callable[[dict[str, Any]], Any]


def scripted(hook_exit: int, hook_out: str) -> Answer:
    def answer(request: dict[str, Any]) -> Any:
        command = request["execute"]
        if command == "guest-get-osinfo":
            return {"return": OSINFO}
        if command == "guest-exec":
            if request["arguments"]["path"] != "/usr/lib/openlpm/mobility":
                return {"error": {"class": "GenericError", "desc": "No such file"}}
            return {"return": {"pid": 42}}
        if command == "guest-exec-status":
            return {"return": {"exited": True, "exitcode": hook_exit,
                               "out-data": base64.b64encode(hook_out.encode()).decode()}}
        return {"error": {"class": "CommandNotFound", "desc": f"{command} not found"}}
    return answer


@pytest.fixture
async def qga(tmp_path: Path) -> AsyncIterator[Callable[[Answer], Awaitable[Path]]]:
    """Start a scripted guest agent on the partition's socket."""
    servers: list[asyncio.AbstractServer] = []

    async def serve(answer: Answer) -> Path:
        async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # What an earlier client left unread comes first.
            writer.write(b'{"return": {}}\n')
            while line := await reader.readline():
                request = json.loads(line)
                if request["execute"] == "guest-sync-delimited":
                    token = request["arguments"]["id"]
                    reply = b"\xff" + json.dumps({"return": token}).encode()
                else:
                    reply = json.dumps(answer(request)).encode()
                writer.write(reply + b"\n")
                await writer.drain()
            writer.close()

        path = tmp_path / "run" / "db1" / "qga.sock"
        path.parent.mkdir(parents=True, exist_ok=True)
        servers.append(await asyncio.start_unix_server(session, str(path)))
        return path

    yield serve
    for server in servers:
        server.close()


async def test_os_version_reads_as_the_hmcs(qga: Callable[[Answer], Awaitable[Path]]) -> None:
    agent = GuestAgent(await qga(scripted(0, "ok\n")), "db1")

    assert await agent.os_version() == "Linux/Debian 6.1.0-28-cloud-amd64 12"


async def test_an_error_answer_is_a_refusal_naming_the_command(
        qga: Callable[[Answer], Awaitable[Path]]) -> None:
    agent = GuestAgent(await qga(scripted(0, "ok\n")), "db1")

    with pytest.raises(GuestCommandFailed, match="guest-fstrim"):
        await agent.execute("guest-fstrim")


async def test_no_guest_agent_is_absent_within_the_timeout(tmp_path: Path) -> None:
    agent = GuestAgent(tmp_path / "nothing.sock", "db1")

    with pytest.raises(GuestAgentAbsent, match="install and start qemu-guest-agent"):
        await agent.execute("guest-ping", timeout=0.2)


def partition(tmp_path: Path) -> QemuPartition:
    return QemuPartition("db1", tmp_path / "run" / "db1", QemuSettings(
        "qemu-system-x86_64", "tcg", BootImage(Path("/k"), Path("/i"), "")))


async def test_the_mobility_hook_consents_through_the_guest_agent(
        tmp_path: Path, qga: Callable[[Answer], Awaitable[Path]]) -> None:
    await qga(scripted(0, "ok\n"))

    verdict = await partition(tmp_path).ask_guest_agent()

    assert verdict.answered and verdict.veto is None
    assert verdict.os_version == "Linux/Debian 6.1.0-28-cloud-amd64 12"


async def test_a_hook_that_exits_non_zero_vetoes_with_its_reason(
        tmp_path: Path, qga: Callable[[Answer], Awaitable[Path]]) -> None:
    await qga(scripted(1, "veto nightly backup running\n"))

    verdict = await partition(tmp_path).ask_guest_agent()

    assert verdict.answered and verdict.veto == "nightly backup running"


async def test_a_guest_agent_without_the_hook_is_a_guest_without_hooks(
        tmp_path: Path, qga: Callable[[Answer], Awaitable[Path]]) -> None:
    def no_hook(request: dict[str, Any]) -> Any:
        if request["execute"] == "guest-exec":
            return {"error": {"class": "GenericError", "desc": "No such file"}}
        return scripted(0, "")(request)
    await qga(no_hook)

    verdict = await partition(tmp_path).ask_guest_agent()

    assert not verdict.answered and verdict.os_version is not None


async def test_what_a_hostile_guest_says_cannot_forge_a_listing_or_flood_one(
        tmp_path: Path, qga: Callable[[Answer], Awaitable[Path]]) -> None:
    def hostile(request: dict[str, Any]) -> Any:
        if request["execute"] == "guest-get-osinfo":
            return {"return": {"name": "Evil\nstate=Running,lpar_id=1\x1b[2J",
                               "kernel-release": "x" * 5000, "version-id": "1"}}
        return scripted(1, "veto a,b=c\r\x00" + "y" * 5000 + "\n")(request)
    await qga(hostile)

    verdict = await partition(tmp_path).ask_guest_agent()

    for text in (verdict.os_version or "", verdict.veto or ""):
        assert len(text) <= 200
        assert not {",", "=", "\n", "\r", "\x00", "\x1b"} & set(text)
    assert (verdict.os_version or "").startswith("Linux/Evil state Running lpar_id 1")
