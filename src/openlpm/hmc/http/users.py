"""The console's pages for signing in, users, their SSH keys, API tokens and the audit
log."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from openlpm.errors import RequestInvalid
from openlpm.hmc.access import passwords
from openlpm.hmc.access.signin import SignIn
from openlpm.hmc.http.depends import ConsoleDep
from openlpm.model import (
    AUTHORIZED_KEY_MAX,
    ApiToken,
    AuditEvent,
    AuthorizedKey,
    AuthorizedKeyAdd,
    Login,
    Session,
    TokenCreate,
    TokenCreated,
    User,
    UserChange,
    UserCreate,
)

router = APIRouter()


def client_address(request: Request) -> str:
    """Where a request comes from, as the throttle of sign-ins counts it."""
    return request.client.host if request.client else "-"


def me(request: Request) -> User:
    """The signed-in user the guard let the request through for."""
    user: User = request.state.user
    return user


async def new_hash(sign_in: SignIn, password: str) -> str:
    passwords.require_acceptable(password)
    return await sign_in.hasher.make_hash(password)


@router.post("/login")
async def login(hmc: ConsoleDep, body: Login, request: Request) -> Session:
    return await hmc.sign_in(body, client_address(request))


@router.delete("/login", status_code=204)
async def logout(hmc: ConsoleDep, request: Request) -> None:
    hmc.users.sign_out(hmc.guard.token(request) or "")


@router.get("/login")
async def who(request: Request) -> User:
    return me(request)


@router.get("/whoami")
async def whoami(request: Request) -> User:
    """The signed-in user (``mkauthkeys --ip`` without ``-u`` acts as its own name)."""
    return me(request)


@router.get("/users")
async def list_users(hmc: ConsoleDep) -> list[User]:
    return hmc.users.users()


@router.post("/users", status_code=201)
async def create_user(hmc: ConsoleDep, body: UserCreate) -> User:
    return hmc.users.create(body.name, body.role, await new_hash(hmc.sign_in, body.password))


@router.patch("/users/{name}")
async def change_user(hmc: ConsoleDep, name: str, body: UserChange) -> User:
    hmc.users.user(name)
    hashed = None if body.password is None else await new_hash(hmc.sign_in, body.password)
    return hmc.users.change(name, body.role, hashed)


@router.delete("/users/{name}", status_code=204)
async def remove_user(hmc: ConsoleDep, name: str, request: Request) -> None:
    if name == me(request).name:
        raise RequestInvalid("A user cannot remove itself; ask another super "
                             "administrator.", code="HSCLF515")
    hmc.users.remove(name)


@router.get("/users/{name}/keys")
async def list_keys(hmc: ConsoleDep, name: str) -> list[AuthorizedKey]:
    """``lsauthkeys -u NAME``; the guard lets a user below hmcsuperadmin list its own."""
    return hmc.users.keys(name)


@router.post("/users/{name}/keys", status_code=201)
async def add_key(hmc: ConsoleDep, name: str, body: AuthorizedKeyAdd) -> AuthorizedKey:
    """``mkauthkeys -a LINE -u NAME``: a key NAME signs in with at the SSH door."""
    return hmc.users.add_key(name, body.key)


@router.delete("/users/{name}/keys", status_code=204)
async def remove_key(hmc: ConsoleDep, name: str,
                     match: str = Query(min_length=1, max_length=AUTHORIZED_KEY_MAX)) -> None:
    """``mkauthkeys -r MATCH -u NAME``: MATCH is a key line, its comment (user@host),
    its base64 part or fingerprint."""
    hmc.users.remove_key(name, match)


@router.get("/tokens")
async def list_tokens(hmc: ConsoleDep, request: Request) -> list[ApiToken]:
    return hmc.users.tokens(me(request).name)


@router.post("/tokens", status_code=201)
async def create_token(hmc: ConsoleDep, body: TokenCreate, request: Request) -> TokenCreated:
    token, secret = hmc.users.create_token(me(request).name, body.name)
    return TokenCreated(token=token, secret=secret)


@router.delete("/tokens/{token_id}", status_code=204)
async def remove_token(hmc: ConsoleDep, token_id: str, request: Request) -> None:
    hmc.users.remove_token(me(request).name, token_id)


@router.get("/audit")
async def audit_log(hmc: ConsoleDep, since: float = 0.0) -> list[AuditEvent]:
    return hmc.audit.events(since)
