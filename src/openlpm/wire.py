"""The edge between openlpm's parts: errors to HTTP and back, and the HTTP client base.

Servers install ``install_error_handlers`` so an ``OpenLpmError`` leaves as its HTTP
status and JSON body; clients derive from ``ServiceClient`` so that body becomes the same
error again and a part that does not answer becomes ``SystemUnreachable``.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from openlpm.errors import OpenLpmError, RequestInvalid, SystemUnreachable, from_wire


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


class ServiceClient:
    """Base of the HTTP clients of the agent, mover and HMC APIs."""

    def __init__(self, base_url: str, what: str, timeout: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url
        self.what = what
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout,
                                       transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, *, timeout: float | None = None,
                      **kwargs: Any) -> Any:
        """Send one request; returns the decoded JSON body.

        Raises the OpenLpmError the server sent, or SystemUnreachable.
        """
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = await self._http.request(method, path, **kwargs, **extra)
        except httpx.HTTPError as exc:
            raise SystemUnreachable(
                f"{self.what} at {self.base_url} did not answer ({type(exc).__name__}). "
                f"Check that it is running and reachable.") from exc
        return decode(response, self.what)


def decode(response: httpx.Response, what: str) -> Any:
    if response.is_success:
        return response.json() if response.content else None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "code" in body:
        raise from_wire(body)
    raise OpenLpmError(f"{what} answered HTTP {response.status_code}: {response.text[:300]}")
