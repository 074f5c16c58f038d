"""Moving bytes between two sockets in the kernel.

The stream never enters Python objects: ``splice`` moves it socket → pipe → socket, one
blocking thread per direction, which is what lets a relay keep up with QEMU on a
two-core machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
from dataclasses import dataclass, field

CHUNK = 1 << 20
F_SETPIPE_SZ = 1031


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


def pump(src: socket.socket, dst: socket.socket, count: ByteCount, forward: bool) -> None:
    """Copy ``src`` to ``dst`` until end of stream, then half-close ``dst``."""
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


def relay(a: socket.socket, b: socket.socket, count: ByteCount) -> None:
    """Join ``a`` (the side QEMU's stream comes from) and ``b`` until both ends close."""
    for sock in (a, b):
        sock.setblocking(True)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * CHUNK)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * CHUNK)
    back = threading.Thread(target=pump, args=(b, a, count, False), daemon=True)
    back.start()
    try:
        pump(a, b, count, True)
        back.join()
    finally:
        a.close()
        b.close()
