"""Mover channels carry a stream between two movers, and only for the right migration.

Real sockets on loopback stand in for QEMU on both ends; no root needed.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from openlpm.mover.api import serve_data_port
from openlpm.mover.channels import ChannelTable, probe_peer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeIncomingQemu:
    """Accepts one connection and keeps what arrives, like QEMU's incoming side."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.done = asyncio.Event()

    async def start(self) -> int:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.server = server
        return int(server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(1 << 16):
            self.received += chunk
        writer.close()
        self.done.set()


async def movers() -> tuple[ChannelTable, ChannelTable, str, asyncio.Task[None]]:
    source, target = ChannelTable(), ChannelTable()
    data = f"127.0.0.1:{free_port()}"
    task = asyncio.create_task(serve_data_port(target, data))
    await asyncio.sleep(0.05)
    return source, target, data, task


async def send(port: int, payload: bytes) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_a_stream_arrives_whole_at_the_target_and_is_counted() -> None:
    source, target, data, task = await movers()
    qemu = FakeIncomingQemu()
    target.expect("m1", "secret", f"127.0.0.1:{await qemu.start()}")
    local_port = await source.open("m1", "secret", data, "127.0.0.1")
    payload = os.urandom(8 << 20)

    await send(local_port, payload)
    await asyncio.wait_for(qemu.done.wait(), 10)

    assert bytes(qemu.received) == payload
    assert source.get("m1").stats().bytes_out == len(payload)
    assert target.get("m1").stats().bytes_out == len(payload)
    source.close_all()
    target.close_all()
    task.cancel()


async def test_a_peer_with_the_wrong_token_reaches_nothing() -> None:
    source, target, data, task = await movers()
    qemu = FakeIncomingQemu()
    target.expect("m1", "secret", f"127.0.0.1:{await qemu.start()}")
    local_port = await source.open("m1", "forged", data, "127.0.0.1")

    await send(local_port, b"x" * 1000)
    await asyncio.sleep(0.3)

    assert qemu.received == b"" and target.get("m1").stats().connections == 0
    source.close_all()
    target.close_all()
    task.cancel()


async def test_a_stream_for_an_unknown_migration_is_refused() -> None:
    source, target, data, task = await movers()
    local_port = await source.open("m9", "secret", data, "127.0.0.1")
    await send(local_port, b"x" * 100)
    await asyncio.sleep(0.2)
    with pytest.raises(Exception, match="m9"):
        target.get("m9")
    source.close_all()
    task.cancel()


async def test_a_probe_of_a_peer_mover_is_answered_and_timed() -> None:
    _, _, data, task = await movers()
    try:
        probe = await probe_peer(data)
    finally:
        task.cancel()
    assert probe.reachable and probe.round_trip_ms is not None and probe.error is None


async def test_a_probe_of_an_address_where_no_mover_listens_says_why() -> None:
    probe = await probe_peer(f"127.0.0.1:{free_port()}")
    assert not probe.reachable and "refused" in (probe.error or "").lower()


async def test_a_probe_of_a_service_that_is_not_a_mover_fails() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        probe = await probe_peer(f"127.0.0.1:{port}")
    assert not probe.reachable and "mover" in (probe.error or "")
