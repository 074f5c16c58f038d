"""Mover channels carry a stream between two movers, only for the right migration, and
encrypted between movers the console certified.

Real sockets stand in for QEMU on both ends (unix sockets, as on a managed system) and
for the migration network (TCP on loopback); real TLS with certificates from a real
console authority; no root needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from openlpm.authority import CertificateAuthority
from openlpm.errors import WrongState
from openlpm.mover.channels import ChannelTable, connect, probe_peer, serve_data_port
from openlpm.mover.credentials import MoverCredentials
from tests.tamper_proxy import TamperProxy

PAYLOAD_MB = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeIncomingQemu:
    """Accepts connections on a unix socket and keeps what arrives, like QEMU's incoming
    side; it can answer on the same connection, like QEMU's return path."""

    def __init__(self, path: Path, answer: bytes = b"") -> None:
        self.path = path
        self.answer = answer
        self.received = bytearray()
        self.done = asyncio.Event()
        self.first_lines: list[bytes] = []  # each connection's first line, by accept order

    async def start(self) -> str:
        self.server = await asyncio.start_unix_server(self._serve, str(self.path))
        return f"unix:{self.path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        slot = len(self.first_lines)
        self.first_lines.append(b"")
        writer.write(self.answer)
        try:
            self.first_lines[slot] = await reader.readline()
            self.received += self.first_lines[slot]
            while chunk := await reader.read(1 << 16):
                self.received += chunk
        except OSError:
            pass
        writer.close()
        self.done.set()


def enrolled(name: str, directory: Path, authority: CertificateAuthority) -> MoverCredentials:
    credentials = MoverCredentials(name, directory / name)
    credentials.install(authority.issue(credentials.certificate_request(), name),
                        authority.certificate_pem)
    return credentials


@dataclass
class Movers:
    source: ChannelTable
    target: ChannelTable
    data: str  # the target mover's data address
    directory: Path

    async def qemu(self, answer: bytes = b"") -> tuple[FakeIncomingQemu, str]:
        qemu = FakeIncomingQemu(self.directory / "incoming.sock", answer)
        return qemu, await qemu.start()


@pytest.fixture
async def movers(tmp_path: Path) -> AsyncIterator[Movers]:
    authority = CertificateAuthority(tmp_path / "ca", "hmc1")
    source = ChannelTable(enrolled("msp-a", tmp_path, authority), tmp_path / "a-channels")
    target = ChannelTable(enrolled("msp-b", tmp_path, authority), tmp_path / "b-channels")
    data = f"127.0.0.1:{free_port()}"
    task = asyncio.create_task(serve_data_port(target, data))
    await asyncio.sleep(0.05)
    yield Movers(source, target, data, tmp_path)
    source.close_all()
    target.close_all()
    task.cancel()


async def send(uri: str, payload: bytes, expect_back: int = 0) -> bytes:
    """Be the source QEMU: stream ``payload`` to a mover's local socket."""
    reader, writer = await asyncio.open_unix_connection(uri.removeprefix("unix:"))
    writer.write(payload)
    await writer.drain()
    back = await reader.readexactly(expect_back) if expect_back else b""
    writer.close()
    await writer.wait_closed()
    return back


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "in the clear"])
async def test_a_stream_arrives_whole_at_the_target_and_is_counted(
        movers: Movers, encrypted: bool) -> None:
    qemu, incoming = await movers.qemu()
    movers.target.expect("m1", "secret", incoming, encrypted)
    local = await movers.source.open("m1", "secret", movers.data, encrypted)
    payload = os.urandom(PAYLOAD_MB << 20)

    await send(local, payload)
    await asyncio.wait_for(qemu.done.wait(), 10)

    assert bytes(qemu.received) == payload
    for table in (movers.source, movers.target):
        stats = table.get("m1").stats()
        assert (stats.bytes_out, stats.connections) == (len(payload), 1)
        assert stats.encrypted == encrypted
        assert stats.cipher.startswith("TLSv1.3 ") if encrypted else stats.cipher == ""


@pytest.mark.parametrize("encrypted", [True, False], ids=["encrypted", "in the clear"])
async def test_connections_reach_the_target_qemu_in_the_order_the_source_made_them(
        movers: Movers, encrypted: bool) -> None:
    """QEMU 7.2's target takes its first connection for the main stream, the next ones
    for multifd: the movers must keep the order."""
    qemu, incoming = await movers.qemu()
    movers.target.expect("m1", "secret", incoming, encrypted)
    local = await movers.source.open("m1", "secret", movers.data, encrypted)
    writers = []
    for number in range(5):
        _, writer = await asyncio.open_unix_connection(local.removeprefix("unix:"))
        writer.write(f"connection {number}\n".encode() + os.urandom(1 << 16))
        writers.append(writer)
    for writer in writers:
        await writer.drain()
        writer.close()

    async with asyncio.timeout(10):
        while len([line for line in qemu.first_lines if line]) < 5:
            await asyncio.sleep(0.05)

    assert qemu.first_lines == [f"connection {n}\n".encode() for n in range(5)]


async def test_the_return_path_crosses_an_encrypted_channel_too(movers: Movers) -> None:
    qemu, incoming = await movers.qemu(answer=b"return path!")
    movers.target.expect("m1", "secret", incoming, True)
    local = await movers.source.open("m1", "secret", movers.data, True)

    back = await send(local, os.urandom(1 << 20), expect_back=12)

    assert back == b"return path!"
    assert movers.source.get("m1").stats().bytes_in == 12


async def test_the_source_qemu_connects_to_a_socket_only_root_can_open(
        movers: Movers) -> None:
    local = await movers.source.open("m1", "secret", movers.data, True)
    path = Path(local.removeprefix("unix:"))
    assert path.stat().st_mode & 0o777 == 0o600
    movers.source.remove("m1")
    assert not path.exists()


@pytest.mark.parametrize(("token", "encrypted"), [("forged", True), ("secret", False)],
                         ids=["wrong token", "in the clear to an encrypted channel"])
async def test_a_peer_that_may_not_send_this_stream_reaches_nothing(
        movers: Movers, token: str, encrypted: bool) -> None:
    qemu, incoming = await movers.qemu()
    movers.target.expect("m1", "secret", incoming, True)
    local = await movers.source.open("m1", token, movers.data, encrypted)

    await send(local, b"x" * 1000)
    await asyncio.sleep(0.3)

    assert qemu.received == b"" and movers.target.get("m1").stats().connections == 0


async def test_a_stream_for_an_unknown_migration_is_refused(movers: Movers) -> None:
    local = await movers.source.open("m9", "secret", movers.data, True)
    await send(local, b"x" * 100)
    await asyncio.sleep(0.2)
    with pytest.raises(Exception, match="m9"):
        movers.target.get("m9")


async def test_a_mover_certified_by_another_console_is_refused(
        movers: Movers, tmp_path: Path) -> None:
    stranger = ChannelTable(
        enrolled("msp-x", tmp_path, CertificateAuthority(tmp_path / "other-ca", "hmc9")),
        tmp_path / "x-channels")
    qemu, incoming = await movers.qemu()
    movers.target.expect("m1", "secret", incoming, True)
    local = await stranger.open("m1", "secret", movers.data, True)

    await send(local, b"x" * 1000)
    await asyncio.sleep(0.3)
    probe = await probe_peer(movers.data, stranger.credentials.contexts()[1])
    stranger.close_all()

    assert qemu.received == b"" and movers.target.get("m1").stats().connections == 0
    assert not probe.reachable
    assert "not issued by this console's authority" in (probe.error or "")


async def test_a_stream_altered_on_the_way_never_reaches_qemu_altered(
        movers: Movers) -> None:
    """TLS checks every record: the target mover stops at the first altered one, so
    QEMU gets an intact prefix of the stream and then its end, never a changed byte."""
    host, _, port = movers.data.rpartition(":")
    proxy = TamperProxy((host, int(port)), flip_at=3 << 20)
    server = await proxy.serve("127.0.0.1", 0)
    middle = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    qemu, incoming = await movers.qemu()
    movers.target.expect("m1", "secret", incoming, True)
    local = await movers.source.open("m1", "secret", middle, True)
    payload = os.urandom(PAYLOAD_MB << 20)

    reader, writer = await asyncio.open_unix_connection(local.removeprefix("unix:"))
    try:
        writer.write(payload)
        await writer.drain()
        source_end = await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:  # the mover ended it before all was written: as good
        source_end = b""
    await asyncio.wait_for(qemu.done.wait(), 10)
    writer.close()
    server.close()

    assert source_end == b"" and proxy.flipped == 1
    assert len(qemu.received) < 3 << 20
    assert bytes(qemu.received) == payload[:len(qemu.received)]


async def test_a_mover_without_a_certificate_cannot_open_an_encrypted_channel(
        tmp_path: Path) -> None:
    bare = ChannelTable(MoverCredentials("msp-new", tmp_path / "new"), tmp_path / "channels")
    with pytest.raises(WrongState) as refused:
        await bare.open("m1", "secret", "127.0.0.1:1", True)
    assert refused.value.code == "HSCLF143"
    assert "openlpm mover enroll" in refused.value.message
    await bare.open("m2", "secret", "127.0.0.1:1", False)
    bare.close_all()


async def test_a_probe_of_a_peer_mover_is_answered_and_timed(movers: Movers) -> None:
    probe = await probe_peer(movers.data, movers.source.credentials.contexts()[1])
    assert probe.reachable and probe.encrypted and probe.error is None
    assert probe.round_trip_ms is not None


class Accepted:
    """Stands in for a channel table: keeps the connections the data port accepts."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    def accept_peer(self, sock: socket.socket) -> None:
        self.sockets.append(sock)


async def test_the_movers_connections_send_small_writes_without_nagle_s_delay() -> None:
    # A handshake ends with two small writes in a row (TLS's last flight, the header):
    # delayed, the second waited 40 ms for the peer's ACK.
    accepted, address = Accepted(), f"127.0.0.1:{free_port()}"
    port = asyncio.create_task(serve_data_port(accepted, address))  # type: ignore[arg-type]
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                peer = await asyncio.to_thread(connect, address, 5.0)
                break
            await asyncio.sleep(0.01)
        with peer:
            while not accepted.sockets:
                await asyncio.sleep(0.01)
            for sock in (peer, accepted.sockets[0]):
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        port.cancel()
        for sock in accepted.sockets:
            sock.close()


async def test_a_probe_of_an_address_where_no_mover_listens_says_why() -> None:
    probe = await probe_peer(f"127.0.0.1:{free_port()}", None)
    assert not probe.reachable and "refused" in (probe.error or "").lower()


async def test_a_probe_of_a_service_that_is_not_a_mover_fails() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        probe = await probe_peer(f"127.0.0.1:{port}", None)
    assert not probe.reachable and "mover" in (probe.error or "")
