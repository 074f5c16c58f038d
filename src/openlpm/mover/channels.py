"""Migration channels through a mover: one per migration, each with its connections.

Source side: QEMU connects to a local socket the channel opened; each connection is
carried to the peer mover, introduced by a header naming the migration and its token.
Target side: the mover checks the header against the channel the console registered
and joins the connection to the target QEMU's incoming socket.

Between movers a stream is TLS 1.3 with both movers' certificates when the channel is
encrypted; the header then travels inside it. A connection's first byte tells the two
apart, so one data port takes both.

Each connection is served by its own threads, from the handshake to the end of the
stream: the relay blocks, and a migration may have several connections (multifd).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from openlpm.errors import ObjectExists, ObjectNotFound, OpenLpmError
from openlpm.model import ChannelStats, MoverProbe
from openlpm.mover.credentials import MoverCredentials
from openlpm.mover.relay import ByteCount, relay

log = logging.getLogger("openlpm.mover.channels")

HEADER_PREFIX = b"OPENLPM-MOVER/1 "
HEADER_MAX = 512
ACCEPTED = b"OK\n"
# A connection to the data port has this long, in all, to introduce itself (TLS
# handshake and header); at most HANDSHAKES_MAX may be doing so at once, others are
# closed at once: a peer that trickles bytes or opens connections by the thousand ties
# up neither threads nor the port.
HANDSHAKE_TIMEOUT_S = 10.0
HANDSHAKES_MAX = 32
# A probe is a connection that introduces itself as such and is answered, then closed.
PROBE_HEADER = HEADER_PREFIX + b"probe\n"
PROBE_TIMEOUT_S = 2.0
TLS_HANDSHAKE_RECORD = b"\x16"


@dataclass
class Channel:
    migration_id: str
    token: str
    direction: str
    # Where the channel's connections go: the peer mover's data address (source side) or
    # the target QEMU's incoming socket (target side), as unix:PATH, tcp:HOST:PORT or
    # HOST:PORT.
    forward_to: str
    encrypted: bool
    count: ByteCount = field(default_factory=ByteCount)
    connections: int = 0
    cipher: str = ""
    listener: socket.socket | None = None
    sockets: list[socket.socket] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def stats(self) -> ChannelStats:
        return ChannelStats(migration_id=self.migration_id, direction=self.direction,
                            connections=self.connections, bytes_out=self.count.forward,
                            bytes_in=self.count.backward, encrypted=self.encrypted,
                            cipher=self.cipher)

    def close(self) -> None:
        if self.listener is not None and self.listener.family == socket.AF_UNIX:
            with contextlib.suppress(OSError):
                os.unlink(self.listener.getsockname())
        for sock in [*self.sockets, *([self.listener] if self.listener else [])]:
            # Below TLS on purpose: the relay threads wake up and end, and no TLS state
            # is torn down under a thread that still uses it.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for task in self.tasks:
            task.cancel()


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix("tcp:").rpartition(":")
    return host, int(port)


def connect(address: str, timeout: float) -> socket.socket:
    """A blocking connection to ``unix:PATH``, ``tcp:HOST:PORT`` or ``HOST:PORT``."""
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address.removeprefix("unix:"))
        except BaseException:
            sock.close()
            raise
        return sock
    sock = socket.create_connection(split_address(address), timeout=timeout)
    no_delay(sock)
    return sock


def no_delay(sock: socket.socket) -> None:
    """Send small writes at once. A connection's handshake ends with two writes in a row
    (TLS's last flight, then the header): with Nagle's algorithm the second waited for
    the peer's delayed ACK, 40 ms, on every probe and every stream connection."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ChannelTable:
    def __init__(self, credentials: MoverCredentials, socket_dir: Path) -> None:
        self.credentials = credentials
        self.socket_dir = socket_dir
        socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._channels: dict[str, Channel] = {}
        self._handshakes = threading.BoundedSemaphore(HANDSHAKES_MAX)

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
        if channel.encrypted:
            self.credentials.contexts()
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

    def expect(self, migration_id: str, token: str, forward_to: str,
               encrypted: bool) -> Channel:
        channel = Channel(migration_id, token, "incoming", forward_to, encrypted)
        self._add(channel)
        return channel

    def accept_peer(self, sock: socket.socket) -> None:
        """Serve a connection to the data port in its own thread, if a handshake may
        start now."""
        if not self._handshakes.acquire(blocking=False):
            log.warning("refused a peer connection: %d are introducing themselves already",
                        HANDSHAKES_MAX)
            sock.close()
            return
        threading.Thread(target=self._serve_peer, args=(sock,), daemon=True,
                         name="mover peer").start()

    def _serve_peer(self, sock: socket.socket) -> None:
        """A peer mover connected: check it, then join it to QEMU."""
        try:
            joined = self._introduced(sock)
        finally:
            self._handshakes.release()
        if joined is not None:
            self._carry(*joined)

    def _introduced(self, sock: socket.socket) \
            -> tuple[Channel, socket.socket, socket.socket] | None:
        """The channel a peer's connection belongs to, the connection (inside TLS when
        encrypted) and QEMU's; None, the connection closed, when it is refused."""
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        link = sock
        try:
            sock.settimeout(HANDSHAKE_TIMEOUT_S)
            if sock.recv(1, socket.MSG_PEEK) == TLS_HANDSHAKE_RECORD:
                server, _ = self.credentials.contexts()
                link = server.wrap_socket(sock, server_side=True, suppress_ragged_eofs=False)
            header = _read_line(link, deadline)
            if header == PROBE_HEADER:
                link.sendall(ACCEPTED)
                link.close()
                return None
            channel = self._authenticate(header, encrypted=link is not sock)
            qemu = connect(channel.forward_to, HANDSHAKE_TIMEOUT_S)
            link.sendall(ACCEPTED)
        # Whatever a peer sent, a refused connection is closed, never left to leak.
        except Exception as exc:
            log.warning("refused a peer connection: %s", exc)
            link.close()
            sock.close()
            return None
        return channel, link, qemu

    def _authenticate(self, header: bytes, encrypted: bool) -> Channel:
        if not header.startswith(HEADER_PREFIX):
            raise ValueError("not a mover stream")
        migration_id, _, token = header[len(HEADER_PREFIX):].strip().partition(b" ")
        channel = self.get(migration_id.decode("ascii", errors="replace"))
        if channel.direction != "incoming" or not hmac.compare_digest(
                channel.token.encode(), token):
            raise ValueError(f"bad token for migration {channel.migration_id}")
        if channel.encrypted and not encrypted:
            raise ValueError(f"migration {channel.migration_id} must arrive encrypted, and a peer "
                             f"sent it in the clear")
        return channel

    # -- source side --------------------------------------------------------------------

    async def open(self, migration_id: str, token: str, peer: str, encrypted: bool) -> str:
        """Open the local socket QEMU will migrate to; returns its address (unix:PATH)."""
        channel = Channel(migration_id, token, "outgoing", peer, encrypted)
        path = self.socket_dir / f"{migration_id}.sock"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(16)
        listener.setblocking(False)
        channel.listener = listener
        try:
            self._add(channel)
        except OpenLpmError:
            listener.close()
            path.unlink()
            raise
        task = asyncio.create_task(self._serve_qemu(channel, listener))
        channel.tasks.add(task)
        return f"unix:{path}"

    async def _serve_qemu(self, channel: Channel, listener: socket.socket) -> None:
        """Introduce QEMU's connections to the peer one after the other, in the order QEMU
        made them: QEMU 7.2's target takes its first connection for the main stream and
        the later ones for multifd, so the order must survive the trip."""
        loop = asyncio.get_running_loop()
        while True:
            qemu, _ = await loop.sock_accept(listener)
            peer = await asyncio.to_thread(self._introduce, channel, qemu)
            if peer is not None:
                threading.Thread(target=self._carry, args=(channel, qemu, peer), daemon=True,
                                 name=f"mover {channel.migration_id}").start()

    def _introduce(self, channel: Channel, qemu: socket.socket) -> socket.socket | None:
        """Connect to the peer mover for one of QEMU's connections; None if refused."""
        try:
            peer = connect(channel.forward_to, HANDSHAKE_TIMEOUT_S)
            if channel.encrypted:
                _, client = self.credentials.contexts()
                peer = client.wrap_socket(peer, suppress_ragged_eofs=False)
            peer.sendall(HEADER_PREFIX + f"{channel.migration_id} {channel.token}\n".encode())
            if _read_line(peer) != ACCEPTED:
                raise ValueError("the peer mover refused the stream")
        except (OSError, ValueError, OpenLpmError) as exc:
            log.warning("migration %s: cannot reach peer mover: %s", channel.migration_id, exc)
            qemu.close()
            return None
        return peer

    def _carry(self, channel: Channel, inbound: socket.socket,
               outbound: socket.socket) -> None:
        channel.connections += 1
        channel.sockets += [inbound, outbound]
        for sock in (inbound, outbound):
            if isinstance(sock, ssl.SSLSocket) and (cipher := sock.cipher()):
                channel.cipher = f"{sock.version()} {cipher[0]}"
        relay(inbound, outbound, channel.count)


async def serve_data_port(channels: ChannelTable, address: str) -> None:
    loop = asyncio.get_running_loop()
    listener = socket.create_server(split_address(address), backlog=64)
    no_delay(listener)  # the connections it accepts inherit it
    listener.setblocking(False)
    try:
        while True:
            sock, _ = await loop.sock_accept(listener)
            channels.accept_peer(sock)
    finally:
        listener.close()


async def probe_peer(peer: str, context: ssl.SSLContext | None) -> MoverProbe:
    """Open a connection to a peer mover's data port the way a stream would, and time it."""
    started = time.monotonic()
    try:
        await asyncio.to_thread(_probe, peer, context)
    except TimeoutError:
        return MoverProbe(peer=peer, reachable=False,
                          error=f"no answer within {PROBE_TIMEOUT_S:.0f} s")
    except ssl.SSLCertVerificationError as exc:
        return MoverProbe(peer=peer, reachable=False,
                          error=f"its certificate was not issued by this console's "
                                f"authority ({exc.verify_message})")
    except ssl.SSLError as exc:
        return MoverProbe(peer=peer, reachable=False,
                          error=f"it refused the encrypted connection ({exc.reason})")
    except OSError as exc:
        log.warning("probe of %s failed: %r", peer, exc)
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return MoverProbe(peer=peer, reachable=False, error=reason)
    except ValueError as exc:
        return MoverProbe(peer=peer, reachable=False, error=str(exc))
    return MoverProbe(peer=peer, reachable=True, encrypted=context is not None,
                      round_trip_ms=round((time.monotonic() - started) * 1000, 3))


def _probe(peer: str, context: ssl.SSLContext | None) -> None:
    sock = connect(peer, PROBE_TIMEOUT_S)
    try:
        if context is not None:
            sock = context.wrap_socket(sock, suppress_ragged_eofs=False)
        sock.sendall(PROBE_HEADER)
        if _read_line(sock) != ACCEPTED:
            raise ValueError("the peer did not answer as a mover service")
    finally:
        sock.close()


def _read_line(sock: socket.socket, deadline: float | None = None) -> bytes:
    """Read one short line, byte by byte (what follows it belongs to the relay), by
    ``deadline`` (time.monotonic()) when given."""
    line = b""
    while not line.endswith(b"\n"):
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the header took too long")
            sock.settimeout(left)
        byte = sock.recv(1)
        if not byte or len(line) >= HEADER_MAX:
            raise ValueError("incomplete header")
        line += byte
    return line
