"""This console's client of another console: keys exchanged, then acting there as a user.

Everything a migration to a system of the remote console needs goes through that
console's ``/peer`` API, signed in with the token the key exchange got: its validation
of the target, its target agent and mover (reached through it, for agents answer only
their own console), and the migration record it keeps for its own ``lslparmigr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

from openlpm.clients.agent import AgentClient
from openlpm.clients.mover import MoverClient
from openlpm.clients.wire import ServiceClient, segment
from openlpm.errors import OpenLpmError, RequestInvalid, SystemUnreachable
from openlpm.model import (
    IncomingValidation,
    IncomingValidationReport,
    MigrationRecord,
    PeerTrust,
    RemoteConsole,
)

# A record pushed for the remote's lslparmigr must not hold up the migration.
PUBLISH_TIMEOUT_S = 2.0
# A console that does not answer validation within this long is taken as unreachable.
VALIDATION_TIMEOUT_S = 10.0


def remote_error(name: str, user: str, url: str, exc: OpenLpmError) -> OpenLpmError:
    """The remote console's refusal as this console reports it: the same kind and code,
    saying which console and user, and what to do when the keys no longer work."""
    if isinstance(exc, SystemUnreachable) and exc.__cause__ is not None:
        return SystemUnreachable(
            f"Remote console {name} did not answer at {url}. Check that it runs and that "
            f"this console reaches it; nothing was changed.", code="HSCLF522")
    hint = ""
    if exc.code in ("HSCLF502", "HSCLF504"):
        hint = (f" The keys exchanged with {name} no longer sign {user} in: exchange them "
                f"again with 'mkauthkeys --ip {name} -u {user}'.")
    return type(exc)(f"Remote console {name} (as {user}): {exc.message}{hint}",
                     code=exc.code, details=exc.details)


@contextlib.contextmanager
def errors_from(remote: RemoteConsole) -> Iterator[None]:
    """Errors of the calls made to (or through) ``remote`` within, as ``remote_error``
    reports them."""
    try:
        yield
    except OpenLpmError as exc:
        raise remote_error(remote.name, remote.user, remote.url, exc) from None


def pinned(certificate: str | None) -> ssl.SSLContext | None:
    """Trust in exactly the certificate a console answered with when keys were
    exchanged (None: a console reached over plain HTTP)."""
    if not certificate:
        return None
    context = ssl.create_default_context(cadata=certificate)
    # The certificate itself is what is trusted, whatever name --ip gave the console.
    context.check_hostname = False
    return context


async def met_certificate(url: str) -> str | None:
    """The certificate an https console answers with, unchecked: what a key exchange
    trusts on first use, as ssh does a host key it has not met.

    Raises RequestInvalid (HSCLF540) for an address no console can have (a port that is
    not a number, a control character, a host name IDNA cannot encode),
    SystemUnreachable (HSCLF522).
    """
    try:
        httpx.URL(url)  # as the clients of that console will read it
        parts = urlsplit(url)
        if parts.scheme != "https":
            return None
        return await asyncio.to_thread(ssl.get_server_certificate,
                                       (parts.hostname or "", parts.port or 443),
                                       timeout=VALIDATION_TIMEOUT_S)
    except OSError as exc:
        raise SystemUnreachable(f"Remote console at {url} did not answer: {exc}. Check "
                                f"that it runs and that this console reaches it; nothing "
                                f"was changed.", code="HSCLF522") from None
    except (ValueError, httpx.InvalidURL) as exc:
        # UnicodeError too: IDNA refuses the host name before any lookup.
        raise RequestInvalid(f"{url} is not the address of a console ({exc}): give the "
                             f"console's host, host:port or https:// URL; nothing was "
                             f"changed.", code="HSCLF540") from None


class RemoteConsoleClient(ServiceClient):
    trust_hint = ("Its certificate is not the one it had when keys were exchanged: find "
                  "out why, then exchange keys again (mkauthkeys).")

    def __init__(self, url: str, name: str = "", token: str | None = None,
                 timeout: float = 30.0, certificate: str | None = None) -> None:
        self.name = name or url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._tls = pinned(certificate)
        self._agents: dict[str, AgentClient] = {}
        super().__init__(url, f"Remote console {self.name}", timeout=timeout,
                         headers=self._headers, tls=self._tls)

    async def close(self) -> None:
        for agent in self._agents.values():
            await agent.close()
        self._agents.clear()
        await super().close()

    async def sign_in(self, user: str, password: str) -> str:
        body = await self.request("POST", "/login", json={"user": user, "password": password})
        return str(body["token"])

    async def create_token(self, session: str, name: str) -> tuple[str, str]:
        """A new API token of the signed-in user: (its id, its secret)."""
        body = await self.request("POST", "/tokens", json={"name": name},
                                  headers={"Authorization": f"Bearer {session}"})
        return str(body["token"]["id"]), str(body["secret"])

    async def remove_token(self, session: str, token_id: str) -> None:
        await self.request("DELETE", f"/tokens/{segment(token_id)}",
                           headers={"Authorization": f"Bearer {session}"})

    async def sign_out(self, session: str) -> None:
        await self.request("DELETE", "/login", headers={"Authorization": f"Bearer {session}"})

    async def trust(self, ours: PeerTrust) -> PeerTrust:
        return PeerTrust.model_validate(await self.request("POST", "/peer/trust",
                                                           json=ours.model_dump()))

    async def validate(self, incoming: IncomingValidation) -> IncomingValidationReport:
        return IncomingValidationReport.model_validate(await self.request(
            "POST", "/peer/validations", json=incoming.model_dump(mode="json"),
            timeout=VALIDATION_TIMEOUT_S))

    async def publish(self, record: MigrationRecord, timeout: float | None = None) -> None:
        await self.request("PUT", f"/peer/migrations/{segment(record.id)}",
                           json=record.model_dump(mode="json"), timeout=timeout)

    async def systems(self) -> list[str]:
        """The managed systems of the remote console (those its user may see there)."""
        return sorted(str(summary["name"]) for summary in await self.request("GET", "/systems"))

    def agent(self, system: str) -> AgentClient:
        """The remote system's agent, reached through its console (closed with it)."""
        if system not in self._agents:
            self._agents[system] = AgentClient(
                f"{self.base_url}/peer/systems/{segment(system)}/agent", system,
                headers=self._headers, tls=self._tls)
        return self._agents[system]

    def mover(self, system: str, mover: str) -> MoverClient:
        """A mover service of the remote system, reached through its console (the
        caller closes it)."""
        path = f"/peer/systems/{segment(system)}/movers/{segment(mover)}"
        return MoverClient(f"{self.base_url}{path}", headers=self._headers, tls=self._tls)
