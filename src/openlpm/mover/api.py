"""The mover service's control API, its data port, and its word to its own agent.

The control API answers its console only (``ServiceTrust``): a channel decides where a
partition's memory goes, so whoever drives it owns the partition. What a request may
name is narrow: an incoming stream goes to the target partition's own incoming socket,
which the mover derives from the partition's name; nothing in a request is a path.
The contract its clients keep with these routes is ``openlpm.clients.mover.MoverRoutes``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, cast

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi import Path as PathParameter
from pydantic import BaseModel, ConfigDict, Field

from openlpm import __version__
from openlpm.model import NAME_PATTERN, ChannelStats, LocalMover, MoverInfo, MoverProbe
from openlpm.mover.channels import ChannelTable, probe_peer, serve_data_port
from openlpm.mover.credentials import MoverCredentials
from openlpm.mover.local import local_socket
from openlpm.service import install_error_handlers
from openlpm.trust import ServiceTrust, install_enrollment

MIGRATION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# A peer mover's data address: a host name or an IP address (v6 in brackets) and a port.
PEER_PATTERN = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):[0-9]{1,5}$"
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{16,128}$"
PEM_MAX = 16384
MigrationId = Annotated[str, PathParameter(pattern=MIGRATION_ID_PATTERN)]


class Strict(BaseModel):
    """A request body naming anything more than it should is refused, not half-read."""

    model_config = ConfigDict(extra="forbid")


class IncomingChannel(Strict):
    migration_id: str = Field(pattern=MIGRATION_ID_PATTERN)
    token: str = Field(pattern=TOKEN_PATTERN, repr=False)
    # The target partition: its stream goes to that partition's incoming QEMU.
    partition: str = Field(pattern=NAME_PATTERN)
    encrypted: bool = True


class OutgoingChannel(Strict):
    migration_id: str = Field(pattern=MIGRATION_ID_PATTERN)
    token: str = Field(pattern=TOKEN_PATTERN, repr=False)
    peer: str = Field(pattern=PEER_PATTERN)
    encrypted: bool = True


class ProbeRequest(Strict):
    peer: str = Field(pattern=PEER_PATTERN)
    encrypted: bool = True


class LocalAddress(BaseModel):
    """Where QEMU sends its stream: a socket of this mover (unix:PATH)."""

    uri: str


class IssuedCertificate(Strict):
    certificate: str = Field(max_length=PEM_MAX)
    authority: str = Field(max_length=PEM_MAX)
    # Authorities of other consoles whose movers may exchange streams with this one.
    trusted: tuple[str, ...] = Field(default=(), max_length=64)


class CertificateRequest(BaseModel):
    request: str


@dataclass(frozen=True)
class MoverSetup:
    """``info.data_address`` is what peers connect to; the data port listens on
    ``listen``. ``incoming_dir`` holds the agent's partitions' runtime directories,
    each with the incoming socket of a partition waiting for a stream."""

    info: MoverInfo
    state_dir: Path
    listen: str
    incoming_dir: Path
    trust: ServiceTrust | None

    @property
    def local_socket(self) -> Path:
        return self.state_dir / "local.sock"


@dataclass(frozen=True)
class MoverState:
    """A running mover: how it was set up, its own certificate, its channels."""

    setup: MoverSetup
    credentials: MoverCredentials
    channels: ChannelTable

    def describe(self) -> MoverInfo:
        return self.setup.info.model_copy(update={"certificate": self.credentials.describe()})

    def local(self) -> LocalMover:
        trust = self.setup.trust
        return LocalMover(info=self.describe(),
                          enrollment_code=trust.enrollment_code() if trust else None)


def mover_state(request: Request) -> MoverState:
    return cast(MoverState, request.app.state.mover)


Mover = Annotated[MoverState, Depends(mover_state)]
router = APIRouter()


def create_app(setup: MoverSetup) -> FastAPI:
    credentials = MoverCredentials(setup.info.name, setup.state_dir / "tls")
    state = MoverState(setup, credentials,
                       ChannelTable(credentials, setup.state_dir / "channels"))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        data = asyncio.create_task(serve_data_port(state.channels, setup.listen))
        async with local_socket(setup.local_socket, state.local):
            yield
        state.channels.close_all()
        data.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await data

    app = FastAPI(title="openlpm mover service", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    if setup.trust is not None:
        install_enrollment(app, setup.trust)
    app.state.mover = state
    app.include_router(router)
    return app


@router.get("/mover")
async def mover(state: Mover) -> MoverInfo:
    return state.describe()


@router.get("/certificate-request")
async def certificate_request(state: Mover) -> CertificateRequest:
    """A request for a certificate for this mover's own key, for its console to sign."""
    return CertificateRequest(request=state.credentials.certificate_request())


@router.put("/certificate")
async def install_certificate(body: IssuedCertificate, state: Mover) -> MoverInfo:
    state.credentials.install(body.certificate, body.authority, body.trusted)
    return state.describe()


@router.post("/probe")
async def probe(body: ProbeRequest, state: Mover) -> MoverProbe:
    context = state.credentials.contexts()[1] if body.encrypted else None
    return await probe_peer(body.peer, context)


@router.post("/channels/incoming")
async def expect(body: IncomingChannel, state: Mover) -> ChannelStats:
    target = f"unix:{state.setup.incoming_dir / body.partition / 'incoming.sock'}"
    return state.channels.expect(body.migration_id, body.token, target,
                                 body.encrypted).stats()


@router.post("/channels/outgoing")
async def open_channel(body: OutgoingChannel, state: Mover) -> LocalAddress:
    return LocalAddress(uri=await state.channels.open(body.migration_id, body.token,
                                                      body.peer, body.encrypted))


@router.get("/channels/{migration_id}")
async def stats(migration_id: MigrationId, state: Mover) -> ChannelStats:
    return state.channels.get(migration_id).stats()


@router.delete("/channels/{migration_id}")
async def close(migration_id: MigrationId, state: Mover) -> ChannelStats:
    return state.channels.remove(migration_id)
