"""Running a part's API: errors as HTTP, bound where asked, maybe inside a namespace.

A namespace is entered before any thread exists, because a thread keeps the namespace
of the thread that created it. The console may bind its listener first and only then
enter the lab's namespace: it then answers on the host's loopback while it reaches the
managed systems over the lab network, and the host needs no lab address or route.
"""

from __future__ import annotations

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

from openlpm.errors import OpenLpmError, RequestInvalid
from openlpm.model import IDENTITY_PATTERN, LUN_NAME_PATTERN

# Path parameters naming a LUN, and a WWPN or host it is mapped to: a value no such
# object could have is refused before it reaches a file name or another service's URL.
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
    """The key in a key file given to a service (its first line).

    Raises RequestInvalid when the file cannot be read or is empty.
    """
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise RequestInvalid(f"Cannot read the key file {path}: {exc.strerror}.",
                             code="HSCLF608") from exc
    if not key:
        raise RequestInvalid(f"The key file {path} is empty.", code="HSCLF608")
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


def serve(app: FastAPI, *listeners: socket.socket,
          tls: ssl.SSLContext | None = None) -> None:
    """Serve on every listener until stopped; over TLS with ``tls``, a context its owner
    may change while serving (new certificates apply to the next connection)."""
    configure_logging()
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5)
    config.load()
    if tls is not None:
        config.ssl = tls
    uvicorn.Server(config).run(sockets=list(listeners))
