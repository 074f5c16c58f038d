"""Who may do what on the console, and the audit log of what they did.

Every request but signing in and the web console's static pages carries a session or an
API token (``Authorization: Bearer TOKEN``, or the web console's cookie), and its user's
role decides whether it may go on (``required_role``, by the route the request matched).
Every request that changes something, and every refused one, is written to the audit
log: who, what, when, and the result. Request bodies are never written there: they may
hold passwords.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.convertors import PathConvertor
from starlette.exceptions import HTTPException

from openlpm.errors import (
    NotPermitted,
    NotSignedIn,
    ObjectNotFound,
    OpenLpmError,
    RequestInvalid,
    no_authority,
)
from openlpm.hmc.stores.database import open_database
from openlpm.hmc.stores.users import Users
from openlpm.model import AuditEvent, PartitionProfile, Role, User

COOKIE = "openlpm_session"
# Each role may do what the roles before it may.
RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.SUPERADMIN: 2}
# (method, route pattern, the least role): first match wins; None = anyone. Matched
# against the route's path template ("/san/luns/{name}"), never the path a request was
# sent to, so no value in it (an encoded "/" or "..") can change which rule applies.
# In a pattern, "{}" is any one parameter of a template.
RULES: tuple[tuple[str, str, Role | None], ...] = (
    ("POST", r"/login", None),
    ("DELETE", r"/login", Role.VIEWER),
    ("*", r"/session", None),
    ("GET", r"/", None),
    ("GET", r"/whoami", Role.VIEWER),
    # A user's own SSH keys: any user for its own (OWN_ROUTES), a super administrator's
    # for anyone's.
    ("*", r"/users/{}/keys", Role.VIEWER),
    ("*", r"/users(/.*)?", Role.SUPERADMIN),
    ("*", r"/authkeys(/.*)?", Role.SUPERADMIN),
    ("POST", r"/systems", Role.SUPERADMIN),
    ("DELETE", r"/systems/{}", Role.SUPERADMIN),
    ("POST", r"/systems/{}/movers/enroll", Role.SUPERADMIN),
    ("POST", r"/sysconns(/.*)?", Role.SUPERADMIN),
    ("DELETE", r"/sysconns/{}", Role.SUPERADMIN),
    ("POST", r"/san/luns", Role.SUPERADMIN),
    ("DELETE", r"/san/luns/{}", Role.SUPERADMIN),
    ("*", r"/tokens(/.*)?", Role.VIEWER),
    # Listed with the console's keys for another console, for who may migrate there.
    ("GET", r"/remote-systems", Role.OPERATOR),
    ("GET", r".*", Role.VIEWER),
    ("HEAD", r".*", Role.VIEWER),
    ("*", r".*", Role.OPERATOR),
)
# Routes of one user's things, named by the path's ``{name}``: a user below
# hmcsuperadmin may call them for its own name only.
OWN_ROUTES = (r"/users/{name}/keys",)
# What a value in a route's path may be: a name (of a system, partition, LUN, WWPN or
# host, user, token or migration). Anything else (".." or a "/" sent encoded, a control
# character) is refused before it reaches another service's URL or a file name.
PARAMETER_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"
# The longest user name and action the audit log writes; longer ones are cut.
AUDIT_USER_MAX = 64
AUDIT_ACTION_MAX = 256
AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, user TEXT NOT NULL,
    action TEXT NOT NULL, result TEXT NOT NULL, code TEXT);
"""


def required_role(method: str, route: str | None) -> Role | None:
    """The least role that may call ``route`` (a path template) with ``method``; the
    highest for a request that matched no route."""
    for wanted, pattern, role in RULES:
        if wanted in ("*", method) and route is not None and \
                re.fullmatch(pattern.replace("{}", r"\{[^{}/]+\}"), route):
            return role
    return Role.SUPERADMIN


def route_of(request: Request) -> str | None:
    """The path template of the route ``request`` matched (known once it is routed)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


def require_names(request: Request) -> None:
    """Every parameter in the request's path is a name (PARAMETER_PATTERN), but a
    ``{...:path}`` one, which its route passes on segment by segment.

    Raises RequestInvalid (HSCLF531).
    """
    convertors = getattr(request.scope.get("route"), "param_convertors", {})
    for key, value in request.path_params.items():
        if isinstance(convertors.get(key), PathConvertor):
            continue
        if not re.fullmatch(PARAMETER_PATTERN, str(value)):
            raise RequestInvalid(
                f"{key} {str(value)!r} is not a name: names in a request's path are "
                f"letters, digits, '_', '.', ':' and '-', beginning with a letter or "
                f"digit.", code="HSCLF531")


def may(user: User, needed: Role) -> bool:
    return RANKS[user.role] >= RANKS[needed]


def require_owner(request: Request, user: User) -> None:
    """On a route of OWN_ROUTES, the user is the one the path names, or a super
    administrator.

    Raises NotPermitted (HSCL350B).
    """
    if route_of(request) not in OWN_ROUTES or may(user, Role.SUPERADMIN):
        return
    owner = str(request.path_params.get("name", ""))
    if owner != user.name:
        raise no_authority(
            f"user {user.name} ({user.role.value}) may not {request.method} "
            f"{request.url.path}: a user manages its own SSH keys; another user's need "
            f"the role {Role.SUPERADMIN.value}.")


def require_host_devices_role(user: User | None, profile: PartitionProfile) -> None:
    """A partition is given host-local devices (disks, shares, io_slots) only by a super
    administrator: each is the host's own file, directory or PCI device, which the guest
    then reads and writes as the host's root would. Decided by the request's body, so
    checked by the routes that take a profile, not by RULES.

    Raises NotPermitted (HSCLF533).
    """
    devices = profile.host_devices
    if not devices or (user is not None and may(user, Role.SUPERADMIN)):
        return
    who = f"User {user.name} ({user.role.value})" if user else "A user not signed in"
    raise NotPermitted(
        f"{who} may not give partition {profile.name} the host-local devices "
        f"{', '.join(devices)}: disks, shares and io_slots are the host's own files, "
        f"directories and PCI devices, and need the role {Role.SUPERADMIN.value}. Leave "
        f"them out (virtual FC or SCSI adapters give a partition storage), or ask a super "
        f"administrator; nothing was created.", code="HSCLF533")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class AuditLog:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path, AUDIT_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def record(self, user: str, action: str, result: str, code: str | None = None) -> None:
        # Both may come from a request nobody signed in for: a row stays a row's size.
        self._db.execute("INSERT INTO audit (at, user, action, result, code) VALUES "
                         "(?, ?, ?, ?, ?)", (time.time(), _clip(user, AUDIT_USER_MAX),
                                             _clip(action, AUDIT_ACTION_MAX), result, code))

    def events(self, since: float = 0.0) -> list[AuditEvent]:
        rows = self._db.execute("SELECT at, user, action, result, code FROM audit WHERE "
                                "at >= ? ORDER BY seq", (since,))
        return [AuditEvent(at=a, user=u, action=ac, result=r, code=c)
                for a, u, ac, r, c in rows]


class Guard:
    """The dependency every route of the console's API runs first."""

    def __init__(self, users: Users, audit: AuditLog) -> None:
        self.users = users
        self.audit = audit

    def token(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return request.cookies.get(COOKIE)

    def who(self, request: Request) -> str:
        """The name of the user the request's session or token is of, or ``-``."""
        token = self.token(request)
        try:
            return self.users.identify(token).name if token else "-"
        except OpenLpmError:
            return "-"

    def require(self, request: Request, needed: Role, what: str) -> None:
        """Within a GET route, a role its rule alone cannot ask for (a parameter makes the
        difference); the guard has let the request through, and audits nothing more.

        Raises NotPermitted (HSCL350B), audited, unless the user has ``needed``.
        """
        user: User = request.state.user
        if may(user, needed):
            return
        refusal = no_authority(f"user {user.name} ({user.role.value}) may not {what}: "
                               f"that needs the role {needed.value} or higher.")
        self.audit.record(user.name, f"{request.method} {request.url.path}", "refused",
                          refusal.code)
        raise refusal

    async def __call__(self, request: Request) -> AsyncIterator[User | None]:
        method, path = request.method, request.url.path
        action = f"{method} {path}"
        needed = required_role(method, route_of(request))
        if needed is None:
            yield None
            return
        user: User | None = None
        try:
            token = self.token(request)
            if token is None:
                raise NotSignedIn(
                    "This request needs a signed-in user: sign in with 'openlpm login -u "
                    "USER' (or give an API token), or in the web console.", code="HSCLF502")
            user = self.users.identify(token)
            if not may(user, needed):
                raise no_authority(
                    f"user {user.name} ({user.role.value}) may not {method} {path}: that "
                    f"needs the role {needed.value} or higher.")
            require_names(request)
            require_owner(request, user)
        except OpenLpmError as exc:
            self.audit.record(user.name if user else "-", action, "refused", exc.code)
            raise
        request.state.user = user
        if method in ("GET", "HEAD"):
            yield user
            return
        try:
            yield user
        except OpenLpmError as exc:
            self.audit.record(user.name, action, "failed", exc.code)
            raise
        except RequestValidationError:
            self.audit.record(user.name, action, "failed", "HSCLF101")
            raise
        except Exception:
            self.audit.record(user.name, action, "failed", "HSCLF100")
            raise
        self.audit.record(user.name, action, "done")


def install_unrouted(app: FastAPI, guard: Guard) -> None:
    """A request that matches no route (a path this console lacks, or a method that
    path lacks) gets its 404 or 405 as an openlpm error (HSCLF532); one that would have
    changed something is a refusal, audited, since the guard of a route never saw it. So
    is one whose body is not JSON (HSCLF101, 400), which FastAPI refuses before the guard.
    """

    async def unrouted(request: Request, exc: Exception) -> JSONResponse:
        # Registered for 404 and 405, which Starlette raises as HTTPException only.
        http = exc if isinstance(exc, HTTPException) else HTTPException(404)
        error = ObjectNotFound(f"This console has no {request.method} {request.url.path}; "
                               f"its API is described at /docs.", code="HSCLF532")
        if request.method not in ("GET", "HEAD"):
            guard.audit.record(guard.who(request), f"{request.method} {request.url.path}",
                               "refused", error.code)
        return JSONResponse(error.to_wire(), status_code=http.status_code,
                            headers=http.headers)

    async def unreadable(request: Request, exc: Exception) -> JSONResponse:
        # FastAPI reads a route's JSON body before the guard runs, and answers a body
        # that is not JSON with a 400 HTTPException of its own.
        detail = exc.detail if isinstance(exc, HTTPException) else "unreadable"
        error = RequestInvalid(f"The request is not valid: {detail}; a request's body is "
                               f"JSON.", code="HSCLF101")
        if request.method not in ("GET", "HEAD"):
            guard.audit.record(guard.who(request), f"{request.method} {request.url.path}",
                               "refused", error.code)
        return JSONResponse(error.to_wire(), status_code=error.http_status)

    app.add_exception_handler(404, unrouted)
    app.add_exception_handler(405, unrouted)
    app.add_exception_handler(400, unreadable)
