"""The mover service's control API and its data port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

from openlpm import __version__
from openlpm.model import MoverInfo, MoverProbe
from openlpm.mover.channels import ChannelStats, ChannelTable, probe_peer, serve_data_port
from openlpm.mover.credentials import MoverCredentials
from openlpm.serve import install_error_handlers


class IncomingChannel(BaseModel):
    migration_id: str
    token: str
    forward_to: str
    encrypted: bool = True


class OutgoingChannel(BaseModel):
    migration_id: str
    token: str
    peer: str
    encrypted: bool = True


class ProbeRequest(BaseModel):
    peer: str
    encrypted: bool = True


class LocalAddress(BaseModel):
    """Where QEMU sends its stream: a socket of this mover (unix:PATH)."""

    uri: str


class IssuedCertificate(BaseModel):
    certificate: str
    authority: str
    # Authorities of other consoles whose movers may exchange streams with this one.
    trusted: tuple[str, ...] = ()


class CertificateRequest(BaseModel):
    request: str


def create_app(info: MoverInfo, state_dir: Path, listen: str) -> FastAPI:
    """``info.data_address`` is what peers connect to; the data port listens on ``listen``."""
    credentials = MoverCredentials(info.name, state_dir / "tls")
    channels = ChannelTable(credentials, state_dir / "channels")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        data = asyncio.create_task(serve_data_port(channels, listen))
        yield
        channels.close_all()
        data.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await data

    app = FastAPI(title="openlpm mover service", version=__version__, lifespan=lifespan)
    install_error_handlers(app)

    @app.get("/mover")
    async def mover() -> MoverInfo:
        return info.model_copy(update={"certificate": credentials.describe()})

    @app.get("/certificate-request")
    async def certificate_request() -> CertificateRequest:
        """A request for a certificate for this mover's own key, for its console to sign."""
        return CertificateRequest(request=credentials.certificate_request())

    @app.put("/certificate")
    async def install_certificate(body: IssuedCertificate) -> MoverInfo:
        credentials.install(body.certificate, body.authority, body.trusted)
        return await mover()

    @app.post("/probe")
    async def probe(body: ProbeRequest) -> MoverProbe:
        context = credentials.contexts()[1] if body.encrypted else None
        return await probe_peer(body.peer, context)

    @app.post("/channels/incoming")
    async def expect(body: IncomingChannel) -> ChannelStats:
        return channels.expect(body.migration_id, body.token, body.forward_to,
                               body.encrypted).stats()

    @app.post("/channels/outgoing")
    async def open_channel(body: OutgoingChannel) -> LocalAddress:
        return LocalAddress(uri=await channels.open(body.migration_id, body.token, body.peer,
                                                    body.encrypted))

    @app.get("/channels/{migration_id}")
    async def stats(migration_id: str) -> ChannelStats:
        return channels.get(migration_id).stats()

    @app.delete("/channels/{migration_id}")
    async def close(migration_id: str) -> ChannelStats:
        return channels.remove(migration_id)

    return app
