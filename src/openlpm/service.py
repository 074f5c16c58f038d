"""Running a part's API: errors as HTTP, bound where asked, maybe inside a namespace.

A namespace is entered before any thread exists, because a thread keeps the namespace
of the thread that created it. The console may bind its listener first and only then
enter the lab's namespace: it then answers on the host's loopback while it reaches the
managed systems over the lab network, and the host needs no lab address or route.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from pathlib import Path
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Request
from fastapi import Path as PathParameter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pyroute2 import netns
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from openlpm.errors import OpenLpmError, RequestInvalid
from openlpm.model import IDENTITY_PATTERN, LUN_NAME_PATTERN

# Path parameters naming a LUN, and a WWPN or host it is mapped to: a value no such
# object could have is refused before it reaches a file name or another service's URL.
# How long a service keeps an idle connection: uvicorn's default, for the listeners
# anybody may reach; one that answers only its console's certificate (an agent, a
# mover) keeps it for a minute, so that the console's calls pay no new handshake.
KEEP_ALIVE_S = 5.0
CONSOLE_ONLY_KEEP_ALIVE_S = 60.0

LunName = Annotated[str, PathParameter(pattern=LUN_NAME_PATTERN)]
LunIdentity = Annotated[str, PathParameter(pattern=IDENTITY_PATTERN)]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OpenLpmError)
    async def _known(_: Request, exc: OpenLpmError) -> JSONResponse:
        return JSONResponse(exc.to_wire(), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'body'}: {err['msg']}"
            for err in exc.errors())
        error = RequestInvalid(f"The request is not valid: {problems}.")
        return JSONResponse(error.to_wire(), status_code=error.http_status)


def read_key_file(path: Path) -> str:
    """The key or password in a file given to a service: its first line, without the
    spaces around it.

    Raises RequestInvalid when the file cannot be read or its first line is empty.
    """
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RequestInvalid(f"Cannot read {path}: {exc}.", code="HSCLF608") from exc
    key = lines[0].strip() if lines else ""
    if not key:
        raise RequestInvalid(f"{path} is empty: its first line is the key or password.",
                             code="HSCLF608")
    return key


def enter_netns(name: str) -> None:
    netns.setns(name, flags=0)


def bind(address: str) -> socket.socket:
    host, _, port = address.rpartition(":")
    sock = socket.create_server((host, int(port)), backlog=128)
    # Linux passes this on to every accepted connection. Without it a keep-alive client
    # waits out its delayed ACK (40 ms) for the second segment of each response.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def configure_logging() -> None:
    """A service's log: its records, with time and logger, on stderr (the journal under
    systemd); once, at the service's start."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def serve(app: FastAPI, *listeners: socket.socket, tls: ssl.SSLContext | None = None,
          keep_alive_s: float = KEEP_ALIVE_S) -> None:
    """Serve on every listener until stopped; over TLS with ``tls``, a context its owner
    may change while serving (new certificates apply to the next connection)."""
    configure_logging()
    server(app, tls, keep_alive_s).run(sockets=list(listeners))


def server(app: FastAPI, tls: ssl.SSLContext | None = None,
           keep_alive_s: float = KEEP_ALIVE_S) -> uvicorn.Server:
    """The server of ``app``, over TLS with ``tls``, telling it its clients' certificates
    (``client_certificate``); an idle connection is closed after ``keep_alive_s``."""
    # proxy_headers off: uvicorn would take X-Forwarded-For from loopback, where the
    # console listens, and let a local user pick the address sign-in throttles by.
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5,
                            http=PeerCertificateProtocol, proxy_headers=False,
                            timeout_keep_alive=int(keep_alive_s))
    config.load()
    if tls is not None:
        config.ssl = tls
    return uvicorn.Server(config)


def client_certificate(scope: Scope) -> str | None:
    """The certificate (PEM) the TLS client of this request presented and the server's
    TLS verified, if any (the ASGI TLS extension's ``client_cert_chain``)."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or ()
    return str(chain[0]) if chain else None


class PeerCertificateProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, telling the app who the TLS peer is: each request of
    a connection carries the ASGI TLS extension with the client's certificate, which
    uvicorn itself does not pass on. Only a certificate the server's TLS context verified
    is there (``getpeercert`` gives none otherwise)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = transport.get_extra_info("ssl_object")
        if tls is not None:
            self.app = with_tls_extension(self.config.loaded_app, _peer_chain(tls))


def _peer_chain(tls: ssl.SSLObject) -> list[str]:
    der = tls.getpeercert(binary_form=True)
    return [ssl.DER_cert_to_PEM_cert(der)] if der else []


def with_tls_extension(app: ASGIApp, chain: list[str]) -> ASGIApp:
    """``app`` seeing ``chain`` (PEM, the client's first) as its requests' TLS peer."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        extensions = scope.setdefault("extensions", {})
        extensions["tls"] = {"client_cert_chain": chain}
        await app(scope, receive, send)

    return wrapped
