"""The agent's question to the mover service of its own host, on that mover's local
socket (``mover/local.py`` answers it): which mover it is, and its enrollment code until
a console enrolled it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from openlpm.errors import SystemUnreachable
from openlpm.model import LocalMover

ANSWER_MAX = 65536


async def ask_local_mover(path: Path, timeout: float = 2.0) -> LocalMover:
    """Raises SystemUnreachable when the mover does not answer on ``path``."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(path)
            try:
                body = await reader.read(ANSWER_MAX)
            finally:
                writer.close()
        return LocalMover.model_validate_json(body)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SystemUnreachable(f"The mover service at {path} did not answer "
                                f"({type(exc).__name__}). Check that it is running.") from None
