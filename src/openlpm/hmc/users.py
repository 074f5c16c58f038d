"""The console's users: roles, passwords, sessions and API tokens (SQLite, next to the
inventory).

Passwords are kept only as scrypt hashes, tokens only as SHA-256 digests: the database
never holds a secret that would let its reader sign in. A session (``openlpm login``,
the web console) is a token that expires; an API token (``openlpm token create``) is
one that does not, until it is removed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import time
from pathlib import Path

from openlpm.errors import NotSignedIn, ObjectExists, ObjectNotFound, RequestInvalid
from openlpm.hmc.database import open_database
from openlpm.model import ApiToken, Role, User

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, digest TEXT UNIQUE NOT NULL, user TEXT NOT NULL, name TEXT NOT NULL,
    created REAL NOT NULL, expires REAL, last_used REAL);
"""
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
SESSION_S = 12 * 3600
MIN_PASSWORD = 8
TOKEN_PREFIX = "olpm_"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return "scrypt$" + "$".join(base64.b64encode(x).decode() for x in (salt, digest))


def password_matches(password: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32,
                               **SCRYPT)
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- users --------------------------------------------------------------------------

    def create(self, name: str, role: Role, password: str) -> User:
        if len(password) < MIN_PASSWORD:
            raise RequestInvalid(f"A password has at least {MIN_PASSWORD} characters.",
                                 code="HSCLF511")
        try:
            self._db.execute("INSERT INTO users VALUES (?, ?, ?, ?)",
                             (name, role.value, hash_password(password), time.time()))
        except sqlite3.IntegrityError:
            raise ObjectExists(f"User {name} already exists on this console.",
                               code="HSCLF512") from None
        return self.user(name)

    def ensure(self, name: str, role: Role, password: str) -> None:
        """Create the user unless one of that name exists (the console's first
        administrator, from a file at start)."""
        if not self._db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            self.create(name, role, password)

    def user(self, name: str) -> User:
        row = self._db.execute("SELECT name, role, created FROM users WHERE name = ?",
                               (name,)).fetchone()
        if row is None:
            raise ObjectNotFound(f"No user named {name} on this console.", code="HSCLF513")
        return User(name=row[0], role=Role(row[1]), created=row[2])

    def users(self) -> list[User]:
        rows = self._db.execute("SELECT name, role, created FROM users ORDER BY name")
        return [User(name=n, role=Role(r), created=c) for n, r, c in rows]

    def change(self, name: str, role: Role | None = None, password: str | None = None) -> User:
        self.user(name)
        if role is not None:
            self._db.execute("UPDATE users SET role = ? WHERE name = ?", (role.value, name))
        if password is not None:
            if len(password) < MIN_PASSWORD:
                raise RequestInvalid(f"A password has at least {MIN_PASSWORD} characters.",
                                     code="HSCLF511")
            self._db.execute("UPDATE users SET password = ? WHERE name = ?",
                             (hash_password(password), name))
            # A new password ends the sessions opened with the old one.
            self._db.execute("DELETE FROM tokens WHERE user = ? AND expires IS NOT NULL",
                             (name,))
        return self.user(name)

    def remove(self, name: str) -> None:
        self.user(name)
        self._db.execute("DELETE FROM tokens WHERE user = ?", (name,))
        self._db.execute("DELETE FROM users WHERE name = ?", (name,))

    # -- signing in ---------------------------------------------------------------------

    def sign_in(self, name: str, password: str) -> tuple[str, float] | None:
        """A new session token and its expiry, or None for a wrong user or password."""
        row = self._db.execute("SELECT password FROM users WHERE name = ?",
                               (name,)).fetchone()
        if row is None or not password_matches(password, row[0]):
            return None
        expires = time.time() + SESSION_S
        return self._issue(name, "session", expires), expires

    def sign_out(self, token: str) -> None:
        self._db.execute("DELETE FROM tokens WHERE digest = ?", (_digest(token),))

    def identify(self, token: str) -> User:
        """The user a token belongs to.

        Raises NotSignedIn for an unknown, removed or expired token.
        """
        row = self._db.execute("SELECT user, expires FROM tokens WHERE digest = ?",
                               (_digest(token),)).fetchone()
        if row is None or (row[1] is not None and row[1] < time.time()):
            raise NotSignedIn("The session or token is not valid (expired or removed); "
                              "sign in again with 'openlpm login'.", code="HSCLF504")
        self._db.execute("UPDATE tokens SET last_used = ? WHERE digest = ?",
                         (time.time(), _digest(token)))
        return self.user(row[0])

    # -- API tokens ---------------------------------------------------------------------

    def create_token(self, user: str, name: str) -> tuple[ApiToken, str]:
        self.user(user)
        token = self._issue(user, name, None)
        return self.tokens(user)[-1], token

    def tokens(self, user: str) -> list[ApiToken]:
        rows = self._db.execute(
            "SELECT id, user, name, created, last_used FROM tokens WHERE user = ? AND "
            "expires IS NULL ORDER BY created", (user,))
        return [ApiToken(id=i, user=u, name=n, created=c, last_used=lu)
                for i, u, n, c, lu in rows]

    def remove_token(self, user: str, token_id: str) -> None:
        deleted = self._db.execute(
            "DELETE FROM tokens WHERE id = ? AND user = ? AND expires IS NULL",
            (token_id, user)).rowcount
        if not deleted:
            raise ObjectNotFound(f"User {user} has no API token {token_id}.",
                                 code="HSCLF514")

    def _issue(self, user: str, name: str, expires: float | None) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, NULL)",
                         (secrets.token_hex(4), _digest(token), user, name, time.time(),
                          expires))
        return token
