"""A limit on the size of request bodies, for an API that anyone may reach before
signing in: without one, a single request can hold the server's memory.

A pure ASGI middleware, so that it sees the body as it streams: a declared
Content-Length over the limit is refused at once, and otherwise the bytes are counted as
they arrive, since a chunked body declares no length.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openlpm.errors import RequestTooLarge

MIB = 2**20


class _CutOff(Exception):
    """The body went over the limit while the app was reading it."""


class BodyLimit:
    """Refuses a request whose body is over ``limit`` bytes: 413 with ``RequestTooLarge``
    (HSCLF517), before the app has read it whole. ``refused`` is told the method and path
    of each refusal, to audit it."""

    def __init__(self, app: ASGIApp, limit: int,
                 refused: Callable[[str, str], None] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.refused = refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.limit:
            await self._refuse(scope, send)
            return
        received, started, cut_off = 0, False, False

        async def counted() -> Message:
            nonlocal received, cut_off
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit and not cut_off:
                cut_off = True
                if not started:
                    await self._refuse(scope, send)
                raise _CutOff
            return message

        async def unless_cut_off(message: Message) -> None:
            nonlocal started
            # What the app answers once the body is cut off (FastAPI turns an error
            # raised while it reads the body into a 400) is dropped: the 413 is the answer.
            if not cut_off:
                started = started or message["type"] == "http.response.start"
                await send(message)

        with contextlib.suppress(_CutOff):
            await self.app(scope, counted, unless_cut_off)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        if self.refused is not None:
            self.refused(scope["method"], scope["path"])
        error = RequestTooLarge(f"The request body is over {self.limit} bytes, the most "
                                f"this API takes.")
        body = json.dumps(error.to_wire()).encode()
        await send({"type": "http.response.start", "status": error.http_status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
