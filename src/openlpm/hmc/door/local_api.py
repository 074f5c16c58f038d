"""The console's API on a private Unix socket, for the door's children.

A child of the door runs in the console's network namespace, which with
``--reach-netns`` is the managed systems' network, not the one ``--listen`` was bound
in: a Unix socket is reached by its path from any namespace. It sits next to the
database, 0600 (only the console's own user, who runs the children, may connect), and
speaks plain HTTP: it never leaves the machine. A request on it is signed in with a
token, as on any listener.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

UNIX_PREFIX = "unix:"


def socket_path(db: Path) -> Path:
    """Next to the database, named after it (two consoles may share a directory)."""
    return db.with_suffix(".sock")


def bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at ``path``, 0600 from the start; a socket left there by
    an earlier run is replaced, anything else is not."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(64)
    return sock


@contextlib.asynccontextmanager
async def serving(app: FastAPI, sock: socket.socket) -> AsyncIterator[None]:
    """``app`` answering on ``sock`` too, on the running loop, while the block runs (the
    app's lifespan is the main server's, not run again)."""
    config = uvicorn.Config(app, lifespan="off", log_level="warning", proxy_headers=False,
                            timeout_graceful_shutdown=5)
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    try:
        yield
    finally:
        await server.shutdown(sockets=[sock])
