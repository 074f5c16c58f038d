"""The web console: its pages, served by the console itself, and signing in to them.

The pages are static files (``hmc/http/static/``: HTML, CSS, JavaScript, no build step, nothing
from a CDN) that call the same public REST API as the CLI and listen to ``/events``.
Users sign in with the console's users (``hmc/users.py``): a session is a token in an
HttpOnly, SameSite=Strict cookie, which the API accepts as it accepts a Bearer token,
and whose user's role decides what the pages may do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from openlpm.hmc.access.guard import COOKIE
from openlpm.hmc.access.signin import SignIn
from openlpm.hmc.http.users import client_address
from openlpm.hmc.stores.users import SESSION_S, Users
from openlpm.model import Login, Role

PAGES = Path(__file__).parent / "static"


class SignedIn(BaseModel):
    user: str
    role: Role
    expires: float | None = None


def install_web_console(app: FastAPI, users: Users, sign_in: SignIn) -> None:
    """The pages at /console/, and /session for signing in and out."""

    @app.post("/session")
    async def open_session(body: Login, request: Request, response: Response) -> SignedIn:
        session = await sign_in(body, client_address(request))
        # Over HTTPS the browser never sends the session over plain HTTP.
        response.set_cookie(COOKIE, session.token, max_age=SESSION_S, httponly=True,
                            samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return SignedIn(user=session.user, role=session.role, expires=session.expires)

    @app.get("/session")
    async def who(request: Request) -> SignedIn:
        user = users.identify(request.cookies.get(COOKIE) or "")
        return SignedIn(user=user.name, role=user.role)

    @app.delete("/session")
    async def sign_out(request: Request, response: Response) -> None:
        users.sign_out(request.cookies.get(COOKIE) or "")
        response.delete_cookie(COOKIE, path="/")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/console/")

    app.mount("/console", StaticFiles(directory=PAGES, html=True), name="console")


def install_api_docs(app: FastAPI) -> None:
    """The API's description (/openapi.json) and its pages (/docs, /redoc) as routes of
    the API, which the guard runs first: FastAPI's own answer anyone, and they name every
    route and model of the console. Make the app with ``openapi_url=None``,
    ``docs_url=None`` and ``redoc_url=None``."""

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=app.title)
