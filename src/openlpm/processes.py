"""Ending processes openlpm started but does not parent, by pid and never by name.

A pid is only signalled while its command line still carries the caller's marker (a
QEMU's run directory, a lab's namespace prefix), so a recycled pid is never hit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path


def runs_with(pid: int, marker: bytes) -> bool:
    """True if process ``pid`` exists and its command line contains ``marker``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return marker in cmdline


async def wait_exit(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to end; True if it did."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def mark_ended() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(fd, mark_ended)
    try:
        await asyncio.wait_for(ended, timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def stopped(pid: int) -> bool:
    """True if process ``pid`` is stopped (SIGSTOP, or a tracer's stop)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] in (["T"], ["t"])


async def terminate(pid: int, marker: bytes) -> None:
    """SIGTERM, then SIGKILL, the process while it still carries ``marker``; a stopped
    process gets SIGKILL at once (it would only act on SIGTERM once continued)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not runs_with(pid, marker):
            return
        if sig == signal.SIGTERM and stopped(pid):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if await wait_exit(pid, 5.0):
            return
