"""The client of a SAN's control API (for the console and the agents)."""

from __future__ import annotations

import ssl

import httpx

from openlpm.clients.wire import EnrollingClient, segment
from openlpm.model import FabricCredentials, FabricLogin, HostsKey, Lun, LunCreate, SanInfo

# A LUN made from an image is written before the SAN answers: gigabytes, on a busy host.
LUN_CREATE_TIMEOUT_S = 1800.0


class SanClient(EnrollingClient):
    trust_hint = ("A SAN this console never connected answers with its own certificate "
                  "until it is enrolled: connect it with its enrollment code (in its "
                  "STATE_DIR/tls/enrollment-code).")

    def __init__(self, base_url: str, key: str | None, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None,
                 tls: ssl.SSLContext | bool | None = None) -> None:
        """``key``: the SAN's hosts key, for a system's agent (the console proves itself
        by the client certificate in ``tls`` instead; san/keys.py)."""
        super().__init__(base_url, "SAN", timeout=timeout, transport=transport,
                         headers={"Authorization": f"Bearer {key}"} if key else None,
                         tls=tls)

    async def info(self, timeout: float | None = None) -> SanInfo:
        return SanInfo.model_validate(await self.request("GET", "/info", timeout=timeout))

    async def hosts_key(self) -> str | None:
        """The key the SAN's systems call it with; None for a SAN that serves anyone."""
        return HostsKey.model_validate(await self.request("GET", "/keys/hosts")).key

    async def luns(self, visible_to: str | None = None,
                   timeout: float | None = None) -> list[Lun]:
        params = {"visible_to": visible_to} if visible_to else {}
        return [Lun.model_validate(lun) for lun in await self.request(
            "GET", "/luns", params=params, timeout=timeout)]

    async def lun(self, name: str) -> Lun:
        return Lun.model_validate(await self.request("GET", f"/luns/{segment(name)}"))

    async def create(self, request: LunCreate) -> Lun:
        """Create a LUN; copying or converting an image of gigabytes takes minutes."""
        return Lun.model_validate(await self.request(
            "POST", "/luns", json=request.model_dump(exclude_none=True),
            timeout=LUN_CREATE_TIMEOUT_S))

    async def delete(self, name: str) -> None:
        await self.request("DELETE", f"/luns/{segment(name)}")

    async def map(self, name: str, identity: str) -> Lun:
        return Lun.model_validate(await self.request(
            "POST", f"/luns/{segment(name)}/mappings", json={"identity": identity}))

    async def unmap(self, name: str, identity: str) -> Lun:
        return Lun.model_validate(await self.request(
            "DELETE", f"/luns/{segment(name)}/mappings/{segment(identity)}"))

    async def login(self, identity: str, request: str) -> FabricCredentials:
        return FabricCredentials.model_validate(await self.request(
            "POST", "/logins", json=FabricLogin(identity=identity, request=request).model_dump()))
