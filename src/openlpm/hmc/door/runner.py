"""One HMC command as a child process, wired to an SSH channel.

The child is the command's own console script, in the bin directory of the console's
interpreter, started by ``execve`` (no shell) with a clean environment: where the console's API
is, the signed-in user's session token and the command's words (``DOOR_ARGV``: its
argv, which any user of the host may read, holds none of them), nothing else from the
client. It reaches the API as that user, so the API's role checks and audit apply to
everything it does. It leads a process group of its own: when the channel closes
first, the group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from openlpm.clients.console_address import DOOR_ARGV

# The first HSCL code a command prints on stderr is the one the door audits; it is
# looked for in the first bytes only.
CODE_PATTERN = re.compile(rb"\bHSCL\w+")
STDERR_KEPT = 4096
CHUNK = 65536
# The most of the client's standard input a child is given: the commands read a
# password there, one line. A client sending without end (no newline) would make the
# child's readline grow until the host runs out of memory.
STDIN_MAX = 65536
# The PATH of a child: the system's, no directory a user may write.
CHILD_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# Where the commands' console scripts are: beside the console's interpreter.
BIN_DIR = Path(sys.executable).parent


class Reader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    status: int
    code: str | None


@dataclass(frozen=True)
class Child:
    """What every child of a connection gets: where the API is, whose session."""

    api: str
    token: str
    bin_dir: Path = BIN_DIR

    def environment(self, words: list[str]) -> dict[str, str]:
        return {"PATH": CHILD_PATH, "LANG": "C.UTF-8", "HOME": "/",
                "OPENLPM_HMC": self.api, "OPENLPM_TOKEN": self.token,
                DOOR_ARGV: json.dumps(words)}


@dataclass(frozen=True)
class Channel:
    """The channel's ends a command uses; ``stdin`` None: the child reads nothing.
    ``terminal``: the client has a pty, so a newline is sent as CR LF."""

    stdin: Reader | None
    stdout: Writer
    stderr: Writer
    closed: Callable[[], Awaitable[None]]
    terminal: bool = False


async def run(argv: list[str], child: Child, channel: Channel) -> Outcome:
    """Run ``argv`` (its first word an HMC command); its output goes to the channel.
    Returns its exit status (128 + N when killed by signal N, 255 when the channel
    closed first) and the first HSCL code it printed on stderr."""
    process = await asyncio.create_subprocess_exec(
        str(child.bin_dir / argv[0]), env=child.environment(argv[1:]), cwd="/",
        stdin=asyncio.subprocess.PIPE if channel.stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True)
    kept = bytearray()
    feeding = (asyncio.create_task(_feed(channel.stdin, process.stdin))
               if channel.stdin and process.stdin else None)
    closed = asyncio.ensure_future(channel.closed())
    try:
        assert process.stdout and process.stderr
        copying = asyncio.gather(_copy(process.stdout, channel.stdout, channel.terminal),
                                 _copy(process.stderr, channel.stderr, channel.terminal,
                                       kept))
        done = asyncio.ensure_future(_finished(copying, process))
        await asyncio.wait({done, closed}, return_when=asyncio.FIRST_COMPLETED)
        status = done.result() if done.done() else 255
        if not done.done():
            done.cancel()
    finally:
        for task in (feeding, closed):
            if task is not None:
                task.cancel()
        _kill(process)
    match = CODE_PATTERN.search(bytes(kept))
    return Outcome(status, match.group().decode() if match else None)


async def _finished(copying: Awaitable[object], process: asyncio.subprocess.Process) -> int:
    with contextlib.suppress(OSError, ConnectionError):
        await copying
    status = await process.wait()
    return 128 - status if status < 0 else status


async def _feed(source: Reader, sink: asyncio.StreamWriter) -> None:
    """The client's input to the child, until the client's EOF, the child's, or
    STDIN_MAX bytes (then the child reads an end of input)."""
    left = STDIN_MAX
    with contextlib.suppress(OSError, ConnectionError):
        while left and (data := await source.read(min(CHUNK, left))):
            left -= len(data)
            sink.write(data)
            await sink.drain()
    sink.close()


async def _copy(source: asyncio.StreamReader, sink: Writer, terminal: bool,
                kept: bytearray | None = None) -> None:
    while data := await source.read(CHUNK):
        if kept is not None and len(kept) < STDERR_KEPT:
            kept += data[:STDERR_KEPT - len(kept)]
        sink.write(data.replace(b"\n", b"\r\n") if terminal else data)
        await sink.drain()


def _kill(process: asyncio.subprocess.Process) -> None:
    """End the child and its process group, unless it has ended and been reaped (then
    its pid may be another process's)."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
