"""The console's (and agent's) client of a mover service's control API."""

from __future__ import annotations

import ssl

from openlpm.clients.wire import EnrollingClient, segment
from openlpm.model import ChannelStats, MoverInfo, MoverProbe


class MoverClient(EnrollingClient):
    def __init__(self, base_url: str, timeout: float = 30.0,
                 headers: dict[str, str] | None = None,
                 tls: ssl.SSLContext | bool | None = None) -> None:
        super().__init__(base_url, "Mover service", timeout=timeout, headers=headers,
                         tls=tls)

    async def info(self) -> MoverInfo:
        return MoverInfo.model_validate(await self.request("GET", "/mover"))

    async def certificate_request(self) -> str:
        return str((await self.request("GET", "/certificate-request"))["request"])

    async def install_certificate(self, certificate: str, authority: str,
                                  trusted: tuple[str, ...] = ()) -> MoverInfo:
        return MoverInfo.model_validate(await self.request("PUT", "/certificate", json={
            "certificate": certificate, "authority": authority, "trusted": trusted}))

    async def probe(self, peer: str, encrypted: bool) -> MoverProbe:
        return MoverProbe.model_validate(await self.request(
            "POST", "/probe", json={"peer": peer, "encrypted": encrypted}))

    async def expect(self, migration_id: str, token: str, partition: str,
                     encrypted: bool) -> None:
        """Let the stream of ``migration_id`` in, to ``partition``'s incoming QEMU."""
        await self.request("POST", "/channels/incoming", json={
            "migration_id": migration_id, "token": token, "partition": partition,
            "encrypted": encrypted})

    async def open(self, migration_id: str, token: str, peer: str, encrypted: bool) -> str:
        """Open the channel's local socket; returns the address QEMU migrates to."""
        body = await self.request("POST", "/channels/outgoing", json={
            "migration_id": migration_id, "token": token, "peer": peer,
            "encrypted": encrypted})
        return str(body["uri"])

    async def stats(self, migration_id: str) -> ChannelStats:
        return ChannelStats.model_validate(
            await self.request("GET", f"/channels/{segment(migration_id)}"))

    async def close_channel(self, migration_id: str) -> ChannelStats:
        return ChannelStats.model_validate(
            await self.request("DELETE", f"/channels/{segment(migration_id)}"))
