"""Migration channels through a mover: one per migration, each with its connections.

Source side: QEMU connects to a local port the channel opened; each connection is
carried to the peer mover, introduced by a header naming the migration and its token.
Target side: the mover checks the header against the channel the console registered
and joins the connection to the target QEMU's incoming port.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import socket
from dataclasses import dataclass, field

from openlpm.errors import ObjectExists, ObjectNotFound
from openlpm.model import Frozen, MoverProbe
from openlpm.mover.relay import ByteCount, relay

log = logging.getLogger("openlpm.mover.channels")

HEADER_PREFIX = b"OPENLPM-MOVER/1 "
HEADER_MAX = 512
ACCEPTED = b"OK\n"
HANDSHAKE_TIMEOUT_S = 10.0
# A probe is a connection that introduces itself as such and is answered, then closed.
PROBE_HEADER = HEADER_PREFIX + b"probe\n"
PROBE_TIMEOUT_S = 2.0


class ChannelStats(Frozen):
    migration_id: str
    direction: str
    connections: int
    bytes_out: int
    bytes_in: int


@dataclass
class Channel:
    migration_id: str
    token: str
    direction: str
    forward_to: tuple[str, int]
    count: ByteCount = field(default_factory=ByteCount)
    connections: int = 0
    listener: socket.socket | None = None
    sockets: list[socket.socket] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def stats(self) -> ChannelStats:
        return ChannelStats(migration_id=self.migration_id, direction=self.direction,
                            connections=self.connections, bytes_out=self.count.forward,
                            bytes_in=self.count.backward)

    def close(self) -> None:
        for sock in [*self.sockets, *([self.listener] if self.listener else [])]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for task in self.tasks:
            task.cancel()


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


class ChannelTable:
    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def get(self, migration_id: str) -> Channel:
        try:
            return self._channels[migration_id]
        except KeyError:
            raise ObjectNotFound(f"The mover has no channel for migration {migration_id}.",
                                 code="HSCLF141") from None

    def _add(self, channel: Channel) -> None:
        if channel.migration_id in self._channels:
            raise ObjectExists(f"The mover already has a channel for migration "
                               f"{channel.migration_id}.", code="HSCLF142")
        self._channels[channel.migration_id] = channel

    def remove(self, migration_id: str) -> ChannelStats:
        channel = self.get(migration_id)
        channel.close()
        del self._channels[migration_id]
        return channel.stats()

    def close_all(self) -> None:
        for migration_id in list(self._channels):
            self.remove(migration_id)

    # -- target side --------------------------------------------------------------------

    def expect(self, migration_id: str, token: str, forward_to: str) -> Channel:
        channel = Channel(migration_id, token, "incoming", split_address(forward_to))
        self._add(channel)
        return channel

    async def accept_peer(self, sock: socket.socket) -> None:
        """A peer mover connected to the data port: check it, then join it to QEMU."""
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                header = await _read_line(loop, sock)
                if header == PROBE_HEADER:
                    await loop.sock_sendall(sock, ACCEPTED)
                    sock.close()
                    return
                channel = self._authenticate(header)
                target = await _connect(loop, channel.forward_to)
                await loop.sock_sendall(sock, ACCEPTED)
        except (OSError, TimeoutError, ValueError, ObjectNotFound) as exc:
            log.warning("refused a peer connection: %s", exc)
            sock.close()
            return
        await self._carry(channel, sock, target)

    def _authenticate(self, header: bytes) -> Channel:
        if not header.startswith(HEADER_PREFIX):
            raise ValueError("not a mover stream")
        migration_id, _, token = header[len(HEADER_PREFIX):].decode().strip().partition(" ")
        channel = self.get(migration_id)
        if channel.direction != "incoming" or not hmac.compare_digest(channel.token, token):
            raise ValueError(f"bad token for migration {migration_id}")
        return channel

    # -- source side --------------------------------------------------------------------

    async def open(self, migration_id: str, token: str, peer: str, local_host: str) -> int:
        """Open the local port QEMU will migrate to; returns it."""
        channel = Channel(migration_id, token, "outgoing", split_address(peer))
        listener = socket.create_server((local_host, 0))
        listener.setblocking(False)
        channel.listener = listener
        self._add(channel)
        task = asyncio.create_task(self._serve_qemu(channel, listener))
        channel.tasks.add(task)
        return int(listener.getsockname()[1])

    async def _serve_qemu(self, channel: Channel, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            qemu, _ = await loop.sock_accept(listener)
            task = asyncio.create_task(self._forward(channel, qemu))
            channel.tasks.add(task)
            task.add_done_callback(channel.tasks.discard)

    async def _forward(self, channel: Channel, qemu: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                peer = await _connect(loop, channel.forward_to)
                header = HEADER_PREFIX + f"{channel.migration_id} {channel.token}\n".encode()
                await loop.sock_sendall(peer, header)
                if await _read_line(loop, peer) != ACCEPTED:
                    raise ValueError("the peer mover refused the stream")
        except (OSError, TimeoutError, ValueError) as exc:
            log.warning("migration %s: cannot reach peer mover: %s", channel.migration_id, exc)
            qemu.close()
            return
        await self._carry(channel, qemu, peer)

    async def _carry(self, channel: Channel, inbound: socket.socket,
                     outbound: socket.socket) -> None:
        channel.connections += 1
        channel.sockets += [inbound, outbound]
        await asyncio.to_thread(relay, inbound, outbound, channel.count)


async def probe_peer(peer: str) -> MoverProbe:
    """Open a connection to a peer mover's data port the way a stream would, and time it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            sock = await _connect(loop, split_address(peer))
            try:
                await loop.sock_sendall(sock, PROBE_HEADER)
                if await _read_line(loop, sock) != ACCEPTED:
                    raise ValueError("the peer did not answer as a mover service")
            finally:
                sock.close()
    except TimeoutError:
        return MoverProbe(peer=peer, reachable=False,
                          error=f"no answer within {PROBE_TIMEOUT_S:.0f} s")
    except OSError as exc:
        log.warning("probe of %s failed: %r", peer, exc)
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return MoverProbe(peer=peer, reachable=False, error=reason)
    except ValueError as exc:
        return MoverProbe(peer=peer, reachable=False, error=str(exc))
    return MoverProbe(peer=peer, reachable=True,
                      round_trip_ms=round((loop.time() - started) * 1000, 3))


async def _connect(loop: asyncio.AbstractEventLoop, address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock


async def _read_line(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    """Read one short line, byte by byte: what follows it belongs to the relay."""
    line = b""
    while not line.endswith(b"\n"):
        byte = await loop.sock_recv(sock, 1)
        if not byte or len(line) >= HEADER_MAX:
            raise ValueError("incomplete header")
        line += byte
    return line
