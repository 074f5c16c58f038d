"""The console's (and agent's) client of a mover service's control API, and that API's
route table (``MoverRoutes``: the client's URLs, the calls another console may make
through the console's ``/peer`` API, held to the mover's real routes by a unit test)."""

from __future__ import annotations

import ssl

from openlpm.clients.wire import KEEPALIVE_S, EnrollingClient, Route
from openlpm.model import ChannelStats, MoverInfo, MoverProbe


class MoverRoutes:
    """Every route of the mover's control API; ``peer``: a call of another console's
    migration to this console's systems (its ``subject`` the migration's id)."""

    MOVER = Route("GET", "/mover", peer=True)
    CERTIFICATE_REQUEST = Route("GET", "/certificate-request")
    INSTALL_CERTIFICATE = Route("PUT", "/certificate")
    PROBE = Route("POST", "/probe")
    EXPECT = Route("POST", "/channels/incoming", peer=True)
    OPEN = Route("POST", "/channels/outgoing")
    STATS = Route("GET", "/channels/{migration_id}", peer=True, subject="migration_id")
    CLOSE = Route("DELETE", "/channels/{migration_id}", peer=True, subject="migration_id")


MOVER_ROUTES: tuple[Route, ...] = tuple(
    value for value in vars(MoverRoutes).values() if isinstance(value, Route))


class MoverClient(EnrollingClient):
    def __init__(self, base_url: str, timeout: float = 30.0,
                 headers: dict[str, str] | None = None,
                 tls: ssl.SSLContext | bool | None = None,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        super().__init__(base_url, "Mover service", timeout=timeout, headers=headers,
                         tls=tls, keepalive_s=keepalive_s)

    async def info(self) -> MoverInfo:
        return MoverInfo.model_validate(await self.call(MoverRoutes.MOVER))

    async def certificate_request(self) -> str:
        return str((await self.call(MoverRoutes.CERTIFICATE_REQUEST))["request"])

    async def install_certificate(self, certificate: str, authority: str,
                                  trusted: tuple[str, ...] = ()) -> MoverInfo:
        return MoverInfo.model_validate(await self.call(MoverRoutes.INSTALL_CERTIFICATE, json={
            "certificate": certificate, "authority": authority, "trusted": trusted}))

    async def probe(self, peer: str, encrypted: bool) -> MoverProbe:
        return MoverProbe.model_validate(await self.call(
            MoverRoutes.PROBE, json={"peer": peer, "encrypted": encrypted}))

    async def expect(self, migration_id: str, token: str, partition: str,
                     encrypted: bool) -> None:
        """Let the stream of ``migration_id`` in, to ``partition``'s incoming QEMU."""
        await self.call(MoverRoutes.EXPECT, json={
            "migration_id": migration_id, "token": token, "partition": partition,
            "encrypted": encrypted})

    async def open(self, migration_id: str, token: str, peer: str, encrypted: bool) -> str:
        """Open the channel's local socket; returns the address QEMU migrates to."""
        body = await self.call(MoverRoutes.OPEN, json={
            "migration_id": migration_id, "token": token, "peer": peer,
            "encrypted": encrypted})
        return str(body["uri"])

    async def stats(self, migration_id: str) -> ChannelStats:
        return ChannelStats.model_validate(await self.call(MoverRoutes.STATS, migration_id))

    async def close_channel(self, migration_id: str) -> ChannelStats:
        return ChannelStats.model_validate(await self.call(MoverRoutes.CLOSE, migration_id))
