"""The console's pages for signing in, users, API tokens and the audit log."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, FastAPI, Request

from openlpm.errors import NotSignedIn, RequestInvalid
from openlpm.hmc.access import AuditLog, Guard
from openlpm.hmc.users import Users
from openlpm.model import (
    ApiToken,
    AuditEvent,
    Login,
    Session,
    TokenCreate,
    TokenCreated,
    User,
    UserChange,
    UserCreate,
)

# A wrong password costs the guesser this long, whatever else happens.
FAILED_SIGN_IN_DELAY_S = 0.5


async def sign_in(users: Users, audit: AuditLog, login: Login) -> Session:
    """A new session for a user and password; audited either way.

    Raises NotSignedIn (after a delay) for a wrong user or password.
    """
    opened = users.sign_in(login.user, login.password)
    if opened is None:
        audit.record(login.user, "sign in", "refused", "HSCLF501")
        await asyncio.sleep(FAILED_SIGN_IN_DELAY_S)
        raise NotSignedIn("Wrong user or password.", code="HSCLF501")
    token, expires = opened
    audit.record(login.user, "sign in", "done")
    user = users.user(login.user)
    return Session(user=user.name, role=user.role, token=token, expires=expires)


def install_user_api(app: FastAPI, users: Users, audit: AuditLog, guard: Guard) -> None:
    router = APIRouter()

    def me(request: Request) -> User:
        user: User = request.state.user
        return user

    @router.post("/login")
    async def login(body: Login) -> Session:
        return await sign_in(users, audit, body)

    @router.delete("/login", status_code=204)
    async def logout(request: Request) -> None:
        users.sign_out(guard.token(request) or "")

    @router.get("/login")
    async def who(request: Request) -> User:
        return me(request)

    @router.get("/users")
    async def list_users() -> list[User]:
        return users.users()

    @router.post("/users", status_code=201)
    async def create_user(body: UserCreate) -> User:
        return users.create(body.name, body.role, body.password)

    @router.patch("/users/{name}")
    async def change_user(name: str, body: UserChange) -> User:
        return users.change(name, body.role, body.password)

    @router.delete("/users/{name}", status_code=204)
    async def remove_user(name: str, request: Request) -> None:
        if name == me(request).name:
            raise RequestInvalid("A user cannot remove itself; ask another super "
                                 "administrator.", code="HSCLF515")
        users.remove(name)

    @router.get("/tokens")
    async def list_tokens(request: Request) -> list[ApiToken]:
        return users.tokens(me(request).name)

    @router.post("/tokens", status_code=201)
    async def create_token(body: TokenCreate, request: Request) -> TokenCreated:
        token, secret = users.create_token(me(request).name, body.name)
        return TokenCreated(token=token, secret=secret)

    @router.delete("/tokens/{token_id}", status_code=204)
    async def remove_token(token_id: str, request: Request) -> None:
        users.remove_token(me(request).name, token_id)

    @router.get("/audit")
    async def audit_log(since: float = 0.0) -> list[AuditEvent]:
        return audit.events(since)

    app.include_router(router)
