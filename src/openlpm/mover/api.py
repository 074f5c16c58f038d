"""The mover service's control API and its data port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel

from openlpm import __version__
from openlpm.model import MoverInfo, MoverProbe
from openlpm.mover.channels import ChannelStats, ChannelTable, probe_peer, split_address
from openlpm.serve import install_error_handlers


class IncomingChannel(BaseModel):
    migration_id: str
    token: str
    forward_to: str


class OutgoingChannel(BaseModel):
    migration_id: str
    token: str
    peer: str


class ProbeRequest(BaseModel):
    peer: str


class LocalPort(BaseModel):
    port: int


async def serve_data_port(channels: ChannelTable, address: str) -> None:
    loop = asyncio.get_running_loop()
    listener = socket.create_server(split_address(address), backlog=64)
    listener.setblocking(False)
    tasks: set[asyncio.Task[None]] = set()
    try:
        while True:
            sock, _ = await loop.sock_accept(listener)
            task = asyncio.create_task(channels.accept_peer(sock))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        listener.close()
        for task in tasks:
            task.cancel()


def create_app(info: MoverInfo, local_host: str = "127.0.0.1") -> FastAPI:
    channels = ChannelTable()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        data = asyncio.create_task(serve_data_port(channels, info.data_address))
        yield
        channels.close_all()
        data.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await data

    app = FastAPI(title="openlpm mover service", version=__version__, lifespan=lifespan)
    install_error_handlers(app)

    @app.get("/mover")
    async def mover() -> MoverInfo:
        return info

    @app.post("/probe")
    async def probe(body: ProbeRequest) -> MoverProbe:
        return await probe_peer(body.peer)

    @app.post("/channels/incoming")
    async def expect(body: IncomingChannel) -> ChannelStats:
        return channels.expect(body.migration_id, body.token, body.forward_to).stats()

    @app.post("/channels/outgoing")
    async def open_channel(body: OutgoingChannel) -> LocalPort:
        return LocalPort(port=await channels.open(body.migration_id, body.token, body.peer,
                                                  local_host))

    @app.get("/channels/{migration_id}")
    async def stats(migration_id: str) -> ChannelStats:
        return channels.get(migration_id).stats()

    @app.delete("/channels/{migration_id}")
    async def close(migration_id: str) -> ChannelStats:
        return channels.remove(migration_id)

    return app
