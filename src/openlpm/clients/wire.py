"""The client side of the edge between openlpm's parts.

Servers send an ``OpenLpmError`` as its HTTP status and JSON body (``serve.py``); clients
derive from ``ServiceClient`` so that body becomes the same error again and a part that
does not answer becomes ``SystemUnreachable``; every value they put in a URL's path goes
through ``segment``. An answer is read up to a limit (``ServiceClient.answer_limit``, or
the route's ``answer_limit``) and must be JSON: whoever answers at an address the console
is given holds none of its memory past that. Kept free of server libraries so that the
command-line tools start quickly; ``segment`` and ``answer`` live in ``plain_wire.py``,
for the listing commands' client, which starts without httpx.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from openlpm.clients.plain_wire import MIB as MIB
from openlpm.clients.plain_wire import answer as answer
from openlpm.clients.plain_wire import segment as segment
from openlpm.clients.plain_wire import too_large, unreachable, wrong_encoding
from openlpm.model import EnrollmentRequest

# The services close a connection idle for 5 s (uvicorn's keep-alive); a client reusing
# one at that moment meets a closed socket (RemoteProtocolError, "did not answer"). It
# drops its idle connections well before.
KEEPALIVE_S = 2.0
# The agents and movers, which answer their console's certificate only, keep an idle
# connection for a minute (service.CONSOLE_ONLY_KEEP_ALIVE_S): the console's clients of
# them keep theirs for less, so that a migration after its validation, or the next
# migration, pays no TLS handshake.
CONSOLE_ONLY_KEEPALIVE_S = 50.0


@dataclass(frozen=True)
class Route:
    """One route of a service's API: its method and path template, as its server
    declares them (a unit test holds each table to the server's real routes).

    ``peer``: another console may make this call of a service of this console's systems,
    for a migration to them (the console's ``/peer`` API passes it on); ``subject``: the
    path parameter naming what the call acts on (a partition, a migration), if any;
    ``answer_limit``: the most bytes its answer may have, for the few routes whose answers
    may be larger than the client's ``answer_limit``.
    """

    method: str
    template: str
    peer: bool = False
    subject: str | None = None
    answer_limit: int | None = None

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{(\w+)}", self.template))

    def url(self, *values: str) -> str:
        """The path with ``values`` in its parameters, in order, each one ``segment``."""
        return self.template.format(**{
            name: segment(value) for name, value in zip(self.parameters, values, strict=True)})

    def pattern(self) -> re.Pattern[str]:
        """The paths of this route, each parameter one segment, as a named group."""
        return re.compile(re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.template)))


class ServiceClient:
    """Base of the HTTP clients of the agent, mover and HMC APIs."""

    # What to do when the service's certificate is not trusted here.
    trust_hint = "Check which certificate authority this client trusts for it."
    # The most bytes an answer may have (a route may allow more). The agents', movers'
    # and SAN's answers are a few kB to a few hundred kB (a partition is ~1 kB); the
    # first answer mksysconn reads comes from whatever listens at the address it is given.
    answer_limit = 4 * MIB

    def __init__(self, base_url: str, what: str, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None,
                 headers: dict[str, str] | None = None,
                 tls: ssl.SSLContext | bool | None = None,
                 keepalive_s: float = KEEPALIVE_S) -> None:
        """``tls``: the context that verifies the peer (and may hold our certificate),
        or False not to verify it; default: the system's CA bundle for https.
        ``keepalive_s``: how long an idle connection is kept (less than the service
        keeps it)."""
        self.base_url = base_url
        self.what = what
        # Loading the CA bundle costs ~50 ms per client; plain-HTTP peers never use it.
        plain = base_url.startswith("http://")
        # Uncompressed answers only: a compressed one would be counted against the limit
        # after it is inflated, a whole chunk at a time.
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout,
                                       transport=transport,
                                       limits=httpx.Limits(keepalive_expiry=keepalive_s),
                                       verify=(not plain) if tls is None else tls,
                                       headers={"Accept-Encoding": "identity",
                                                **(headers or {})})

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, *, timeout: float | None = None,
                      limit: int | None = None, **kwargs: Any) -> Any:
        """Send one request; returns the decoded JSON body. ``limit``: the most bytes
        of answer to read (default ``answer_limit``).

        Raises the OpenLpmError the server sent, or SystemUnreachable: the service did
        not answer (HSCLF107, HSCLF528), its answer is over the limit (HSCLF546) or is
        not JSON (HSCLF547).
        """
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            async with self._http.stream(method, path, **kwargs, **extra) as response:
                content = await self._read(response, limit or self.answer_limit)
        except httpx.HTTPError as exc:
            raise unreachable(self.what, self.base_url, exc, self.trust_hint) from exc
        return answer(response.status_code, content, self.what, self.base_url)

    async def call(self, route: Route, *values: str, timeout: float | None = None,
                   **kwargs: Any) -> Any:
        """``request`` of ``route``, its path parameters ``values``."""
        return await self.request(route.method, route.url(*values), timeout=timeout,
                                  limit=route.answer_limit, **kwargs)

    async def _read(self, response: httpx.Response, limit: int) -> bytes:
        """The answer's body, refused once it is over ``limit`` bytes (leaving the rest
        unread: the connection is then closed, not reused)."""
        encoding = response.headers.get("content-encoding", "identity").lower()
        if encoding != "identity":
            raise wrong_encoding(self.what, self.base_url, encoding)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large(self.what, self.base_url, limit)
        chunks: list[bytes] = []
        received = 0
        async for chunk in response.aiter_bytes():  # as sent: no content encoding
            received += len(chunk)
            if received > limit:
                raise too_large(self.what, self.base_url, limit)
            chunks.append(chunk)
        return b"".join(chunks)


class EnrollingClient(ServiceClient):
    """A client of a service that a console enrolls (agents, mover services)."""

    async def enrollment_request(self) -> str:
        return (await self.enrollment()).request

    async def enrollment(self) -> EnrollmentRequest:
        """The service's name, whether a console enrolled it, its certificate request."""
        return EnrollmentRequest.model_validate(await self.request("GET", "/enrollment"))

    async def enroll(self, proof: str, certificate: str, authority: str) -> None:
        """Give the service its certificate with the proof that this console knows its
        code (``trust.enrollment_proof``): the code itself never travels."""
        await self.request("POST", "/enrollment", json={
            "proof": proof, "certificate": certificate, "authority": authority})

    async def enroll_with_code(self, code: str, certificate: str, authority: str) -> None:
        """Enroll a service of a release before 0.2, which takes the code itself."""
        await self.request("POST", "/enrollment", json={
            "code": code, "certificate": certificate, "authority": authority})


def decode(response: httpx.Response, what: str) -> Any:
    """The JSON body of a response read whole, as ``answer``."""
    return answer(response.status_code, response.content, what, str(response.url))
