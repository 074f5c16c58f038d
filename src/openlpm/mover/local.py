"""The mover service's word to the agent of its own host, over a unix socket.

The agent lists its system's movers for the console, and hands the console a mover's
enrollment code; the mover's control API answers the console only, so the agent asks
here instead: a socket only root on the host reaches (mode 0600), that says one thing
(a ``LocalMover`` as JSON) to whoever connects, then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from openlpm.model import LocalMover


@contextlib.asynccontextmanager
async def local_socket(path: Path, describe: Callable[[], LocalMover]) -> AsyncIterator[None]:
    """Answer on ``path`` while the block runs."""

    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            writer.write(describe().model_dump_json().encode())
            await writer.drain()
        writer.close()

    path.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(answer, path)
    # Connecting needs write permission: under any usual umask others never had it.
    os.chmod(path, 0o600)
    try:
        yield
    finally:
        server.close()
        path.unlink(missing_ok=True)
