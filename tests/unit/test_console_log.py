"""A partition's stamped console log, and the lines it must not lose when it leaves."""

from __future__ import annotations

import asyncio
from pathlib import Path

from openlpm.agent.console import ConsoleLog


def test_a_partition_that_left_keeps_the_lines_qemu_logged_but_no_one_read(
        tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        served = asyncio.Event()

        async def qemu_console(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"tick 1\r\n")
            await writer.drain()
            served.set()
            await asyncio.sleep(3600)

        socket = tmp_path / "console.sock"
        server = await asyncio.start_unix_server(qemu_console, str(socket))
        log = ConsoleLog(tmp_path / "web1.console", "sys1")
        log.follow(socket)
        await served.wait()
        while not log.tail(1):
            await asyncio.sleep(0.01)
        # QEMU's own log has a line the agent had not read when the partition paused.
        raw = tmp_path / "console.raw"
        raw.write_text("boot\ntick 1\ntick 2\n")
        await log.seal(raw)
        server.close()
        return [line.text for line in log.tail(10)]

    assert asyncio.run(scenario()) == ["tick 1", "tick 2"]
