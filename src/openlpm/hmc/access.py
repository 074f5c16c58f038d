"""Who may do what on the console, and the audit log of what they did.

Every request but signing in and the web console's static pages carries a session or an
API token (``Authorization: Bearer TOKEN``, or the web console's cookie), and its user's
role decides whether it may go on (``required_role``). Every request that changes
something, and every refused one, is written to the audit log: who, what, when, and the
result. Request bodies are never written there: they may hold passwords.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from openlpm.errors import NotPermitted, NotSignedIn, OpenLpmError
from openlpm.hmc.database import open_database
from openlpm.hmc.users import Users
from openlpm.model import AuditEvent, Role, User

COOKIE = "openlpm_session"
# Each role may do what the roles before it may.
RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.SUPERADMIN: 2}
# (method, path pattern, the least role): first match wins; None = anyone.
RULES: tuple[tuple[str, str, Role | None], ...] = (
    ("POST", r"/login", None),
    ("*", r"/session", None),
    ("GET", r"/", None),
    ("*", r"/users(/.*)?", Role.SUPERADMIN),
    ("*", r"/authkeys(/.*)?", Role.SUPERADMIN),
    ("POST", r"/systems", Role.SUPERADMIN),
    ("DELETE", r"/systems/[^/]+", Role.SUPERADMIN),
    ("POST", r"/systems/[^/]+/movers/enroll", Role.SUPERADMIN),
    ("POST", r"/san/luns", Role.SUPERADMIN),
    ("DELETE", r"/san/luns/[^/]+", Role.SUPERADMIN),
    ("*", r"/tokens(/.*)?", Role.VIEWER),
    # Listed with the console's keys for another console, for who may migrate there.
    ("GET", r"/remote-systems", Role.OPERATOR),
    ("GET", r".*", Role.VIEWER),
    ("HEAD", r".*", Role.VIEWER),
    ("*", r".*", Role.OPERATOR),
)
AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, user TEXT NOT NULL,
    action TEXT NOT NULL, result TEXT NOT NULL, code TEXT);
"""


def required_role(method: str, path: str) -> Role | None:
    for wanted, pattern, role in RULES:
        if wanted in ("*", method) and re.fullmatch(pattern, path):
            return role
    return Role.SUPERADMIN


def may(user: User, needed: Role) -> bool:
    return RANKS[user.role] >= RANKS[needed]


class AuditLog:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path, AUDIT_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def record(self, user: str, action: str, result: str, code: str | None = None) -> None:
        self._db.execute("INSERT INTO audit (at, user, action, result, code) VALUES "
                         "(?, ?, ?, ?, ?)", (time.time(), user, action, result, code))

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

    async def __call__(self, request: Request) -> AsyncIterator[User | None]:
        method, path = request.method, request.url.path
        action = f"{method} {path}"
        needed = required_role(method, path)
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
                raise NotPermitted(
                    f"User {user.name} ({user.role.value}) may not {method} {path}: that "
                    f"needs the role {needed.value} or higher.", code="HSCLF505")
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
