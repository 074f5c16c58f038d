"""Moving bytes between two connections, one blocking thread per direction.

A plain stream never enters Python objects: ``splice`` moves it socket → pipe → socket
in the kernel, which is what lets a relay keep up with QEMU on a two-core machine. An
encrypted stream has to pass through OpenSSL, so it is copied through one reused buffer
per direction, many TLS records per system call.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import select
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

CHUNK = 256 << 10
# What may wait unsent in a link socket's buffer. Every byte buffered between the two
# QEMUs when the source pauses the guest must still cross before the target resumes
# it: the relay's buffers lengthen the guest's pause, not only the stream. So the link
# keeps the kernel's autotuned buffers (what is in flight on the wire), with little
# queued behind them, and the unix sockets to QEMU their default size.
UNSENT_LOWAT = 128 << 10
F_SETPIPE_SZ = 1031
PR_SET_NAME = 15


@dataclass
class ByteCount:
    """Bytes moved by one channel, in both directions, updated as they move."""

    forward: int = 0
    backward: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, forward: bool, count: int) -> None:
        with self._lock:
            if forward:
                self.forward += count
            else:
                self.backward += count


class TlsEnd:
    """A TLS connection that one thread reads while another writes.

    OpenSSL allows one call at a time on a connection, so the socket is non-blocking,
    each call holds a lock, and waiting for the network happens outside it.
    """

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self._lock = threading.Lock()
        sock.setblocking(False)

    def read_into(self, view: memoryview) -> int:
        """Decrypt as many records as have arrived, up to the buffer; 0 at end of stream."""
        while True:
            filled = 0
            with self._lock:
                try:
                    while filled < len(view):
                        got = self.sock.recv_into(view[filled:])
                        if got == 0:
                            break
                        filled += got
                except ssl.SSLWantReadError:
                    if filled == 0:
                        filled = -1
            if filled >= 0:
                return filled
            select.select([self.sock], [], [])

    def write(self, view: memoryview) -> None:
        while view:
            with self._lock:
                try:
                    view = view[self.sock.send(view):]
                    continue
                except ssl.SSLWantWriteError:
                    pass
            select.select([], [self.sock], [])

    def end_write(self) -> None:
        """Say the stream is complete (TLS close_notify), so truncation is detectable."""
        with self._lock, contextlib.suppress(OSError, ValueError):
            self.sock.unwrap()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)


class PlainEnd:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(True)

    def read_into(self, view: memoryview) -> int:
        return self.sock.recv_into(view)

    def write(self, view: memoryview) -> None:
        self.sock.sendall(view)

    def end_write(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


End = TlsEnd | PlainEnd


def splice(src: socket.socket, dst: socket.socket, count: ByteCount, forward: bool) -> None:
    """Copy ``src`` to ``dst`` in the kernel until end of stream, then half-close ``dst``."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_end, F_SETPIPE_SZ, CHUNK)
    try:
        while True:
            moved = os.splice(src.fileno(), write_end, CHUNK)
            if moved == 0:
                break
            while moved:
                sent = os.splice(read_end, dst.fileno(), moved)
                moved -= sent
                count.add(forward, sent)
    except OSError:
        # A peer vanished or the channel was closed: the other direction ends too.
        with contextlib.suppress(OSError):
            src.shutdown(socket.SHUT_RDWR)
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        os.close(read_end)
        os.close(write_end)


def copy(src: End, dst: End, count: ByteCount, forward: bool) -> None:
    """Copy ``src`` to ``dst`` through one buffer until end of stream."""
    view = memoryview(bytearray(CHUNK))
    try:
        while got := src.read_into(view):
            dst.write(view[:got])
            count.add(forward, got)
    except (OSError, ValueError):
        # Includes a TLS record that fails its integrity check: the stream was altered
        # on the way, so nothing more of it may reach QEMU, in either direction.
        src.abort()
        dst.abort()
        return
    dst.end_write()


def _named(name: str, run: Callable[..., None], *args: object) -> None:
    name_thread(name)
    run(*args)


def name_thread(name: str) -> None:
    """Give the calling thread a name the system shows (top -H, /proc/PID/task), up to
    15 bytes: Python's own thread names stay inside Python."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def relay(a: socket.socket, b: socket.socket, count: ByteCount) -> None:
    """Join ``a`` (the side QEMU's stream comes from) and ``b`` until both ends close."""
    for sock in (a, b):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, UNSENT_LOWAT)
    if isinstance(a, ssl.SSLSocket) or isinstance(b, ssl.SSLSocket):
        ends = [TlsEnd(s) if isinstance(s, ssl.SSLSocket) else PlainEnd(s) for s in (a, b)]
        back = threading.Thread(target=_named, args=("relay back", copy, ends[1], ends[0],
                                                     count, False), daemon=True)
        back.start()
        name_thread("relay tls")
        copy(ends[0], ends[1], count, True)
    else:
        for sock in (a, b):
            sock.setblocking(True)
        back = threading.Thread(target=_named, args=("relay back", splice, b, a, count,
                                                     False), daemon=True)
        back.start()
        name_thread("relay splice")
        splice(a, b, count, True)
    back.join()
    a.close()
    b.close()
