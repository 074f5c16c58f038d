"""The web console: its pages, served by the console itself, and signing in to them.

The pages are static files (``hmc/http/static/``: HTML, CSS, JavaScript, no build step, nothing
from a CDN) that call the same public REST API as the CLI and listen to ``/events``.
Users sign in with the console's users (``hmc/stores/users.py``): a session is a token in an
HttpOnly, SameSite=Strict cookie, which the API accepts as it accepts a Bearer token,
and whose user's role decides what the pages may do.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from openlpm.hmc.access.guard import COOKIE
from openlpm.hmc.http.depends import ConsoleDep
from openlpm.hmc.http.users import client_address
from openlpm.hmc.stores.users import SESSION_S
from openlpm.model import Login, Role

PAGES = Path(__file__).parent / "static"


class SignedIn(BaseModel):
    user: str
    role: Role
    expires: float | None = None


router = APIRouter()


@router.post("/session")
async def open_session(hmc: ConsoleDep, body: Login, request: Request,
                       response: Response) -> SignedIn:
    session = await hmc.sign_in(body, client_address(request))
    # Over HTTPS the browser never sends the session over plain HTTP.
    response.set_cookie(COOKIE, session.token, max_age=SESSION_S, httponly=True,
                        samesite="strict", path="/", secure=request.url.scheme == "https")
    return SignedIn(user=session.user, role=session.role, expires=session.expires)


@router.get("/session")
async def who(hmc: ConsoleDep, request: Request) -> SignedIn:
    user = hmc.users.identify(request.cookies.get(COOKIE) or "")
    return SignedIn(user=user.name, role=user.role)


@router.delete("/session")
async def sign_out(hmc: ConsoleDep, request: Request, response: Response) -> None:
    hmc.users.sign_out(request.cookies.get(COOKIE) or "")
    response.delete_cookie(COOKIE, path="/")


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse("/console/")


def install_web_console(app: FastAPI) -> None:
    """The pages at /console/, and /session for signing in and out (a mount, which a
    router cannot carry, so installed on the app itself)."""
    app.include_router(router)
    app.mount("/console", StaticFiles(directory=PAGES, html=True), name="console")
