"""The web console: its pages, served by the console itself, and signing in to them.

The pages are static files (``hmc/web/``: HTML, CSS, JavaScript, no build step, nothing
from a CDN) that call the same public REST API as the CLI and listen to ``/events``.
Until users and roles exist (the access-control issue), one administrator signs in with
the password the console was given (``hmc serve --web-password-file``); the password is
kept only as a scrypt hash, a session is a random token in an HttpOnly, SameSite=Strict
cookie, and sessions end after 12 hours or at sign-out.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from openlpm.errors import NotSignedIn

PAGES = Path(__file__).parent / "web"
COOKIE = "openlpm_session"
SESSION_S = 12 * 3600
# A wrong password costs the guesser this long, whatever else happens.
FAILED_SIGN_IN_DELAY_S = 0.5


class Credentials(BaseModel):
    user: str
    password: str


class SignedIn(BaseModel):
    user: str
    expires: float


@dataclass
class Administrator:
    """The one user of the web console until access control exists."""

    user: str
    password_hash: bytes
    salt: bytes
    sessions: dict[str, SignedIn] = field(default_factory=dict)

    @classmethod
    def from_file(cls, user: str, path: Path) -> Administrator:
        salt = secrets.token_bytes(16)
        return cls(user, _scrypt(path.read_text().strip(), salt), salt)

    def check(self, credentials: Credentials) -> bool:
        candidate = _scrypt(credentials.password, self.salt)
        return hmac.compare_digest(candidate, self.password_hash) and hmac.compare_digest(
            credentials.user.encode(), self.user.encode())

    def open_session(self) -> tuple[str, SignedIn]:
        token = secrets.token_urlsafe(32)
        self.sessions[token] = SignedIn(user=self.user, expires=time.time() + SESSION_S)
        return token, self.sessions[token]

    def session(self, token: str | None) -> SignedIn:
        found = self.sessions.get(token or "")
        if found is None or found.expires < time.time():
            self.sessions.pop(token or "", None)
            raise NotSignedIn("Sign in to the web console first.", code="HSCLF502")
        return found


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


def install_web_console(app: FastAPI, administrator: Administrator | None) -> None:
    """The pages at /console/, and /session for signing in and out."""

    def admin() -> Administrator:
        if administrator is None:
            raise NotSignedIn("This console was started without a web console password "
                              "(hmc serve --web-password-file).", code="HSCLF503")
        return administrator

    @app.post("/session")
    async def sign_in(credentials: Credentials, response: Response) -> SignedIn:
        if not admin().check(credentials):
            await asyncio.sleep(FAILED_SIGN_IN_DELAY_S)
            raise NotSignedIn("Wrong user or password.", code="HSCLF501")
        token, session = admin().open_session()
        response.set_cookie(COOKIE, token, max_age=SESSION_S, httponly=True,
                            samesite="strict", path="/")
        return session

    @app.get("/session")
    async def who(request: Request) -> SignedIn:
        return admin().session(request.cookies.get(COOKIE))

    @app.delete("/session")
    async def sign_out(request: Request, response: Response) -> None:
        admin().sessions.pop(request.cookies.get(COOKIE) or "", None)
        response.delete_cookie(COOKIE, path="/")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/console/")

    app.mount("/console", StaticFiles(directory=PAGES, html=True), name="console")
