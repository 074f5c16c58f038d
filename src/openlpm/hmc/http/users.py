"""The console's pages for signing in, users, API tokens and the audit log."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request

from openlpm.errors import RequestInvalid
from openlpm.hmc.access import passwords
from openlpm.hmc.access.guard import AuditLog, Guard
from openlpm.hmc.access.signin import SignIn
from openlpm.hmc.stores.users import Users
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


def client_address(request: Request) -> str:
    """Where a request comes from, as the throttle of sign-ins counts it."""
    return request.client.host if request.client else "-"


def install_user_api(app: FastAPI, users: Users, audit: AuditLog, guard: Guard,
                     sign_in: SignIn) -> None:
    router = APIRouter()

    def me(request: Request) -> User:
        user: User = request.state.user
        return user

    @router.post("/login")
    async def login(body: Login, request: Request) -> Session:
        return await sign_in(body, client_address(request))

    @router.delete("/login", status_code=204)
    async def logout(request: Request) -> None:
        users.sign_out(guard.token(request) or "")

    @router.get("/login")
    async def who(request: Request) -> User:
        return me(request)

    @router.get("/users")
    async def list_users() -> list[User]:
        return users.users()

    async def new_hash(password: str) -> str:
        passwords.require_acceptable(password)
        return await sign_in.hasher.make_hash(password)

    @router.post("/users", status_code=201)
    async def create_user(body: UserCreate) -> User:
        return users.create(body.name, body.role, await new_hash(body.password))

    @router.patch("/users/{name}")
    async def change_user(name: str, body: UserChange) -> User:
        users.user(name)
        hashed = None if body.password is None else await new_hash(body.password)
        return users.change(name, body.role, hashed)

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
