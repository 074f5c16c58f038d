"""The console's users: roles, passwords, sessions, API tokens and the SSH keys they
sign in with at the SSH door (SQLite, next to the inventory).

Passwords are kept only as scrypt hashes (``passwords.py``), tokens only as SHA-256
digests: the database never holds a secret that would let its reader sign in. A session
(``openlpm login``, the web console) is a token that expires; an API token (``openlpm
token create``) is one that does not, until it is removed.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from pathlib import Path

from openlpm.errors import NotSignedIn, ObjectExists, ObjectNotFound, WrongState
from openlpm.hmc.access import passwords, publickeys
from openlpm.hmc.stores.database import open_database
from openlpm.model import ApiToken, AuthorizedKey, Role, User

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, digest TEXT UNIQUE NOT NULL, user TEXT NOT NULL, name TEXT NOT NULL,
    created REAL NOT NULL, expires REAL, last_used REAL);
CREATE TABLE IF NOT EXISTS authorized_keys (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, type TEXT NOT NULL, base64 TEXT NOT NULL,
    comment TEXT NOT NULL, fingerprint TEXT NOT NULL, added REAL NOT NULL,
    UNIQUE (user, base64));
"""
SESSION_S = 12 * 3600
# The most SSH keys a user may have (mkauthkeys -a).
KEYS_MAX = 100
KEY_COLUMNS = "id, user, type, base64, comment, fingerprint, added"
TOKEN_PREFIX = "olpm_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- users --------------------------------------------------------------------------

    def create(self, name: str, role: Role, password_hash: str) -> User:
        """A new user, its password hashed already (``passwords.Hasher``, off the event
        loop)."""
        try:
            self._db.execute("INSERT INTO users VALUES (?, ?, ?, ?)",
                             (name, role.value, password_hash, time.time()))
        except sqlite3.IntegrityError:
            raise ObjectExists(f"User {name} already exists on this console.",
                               code="HSCLF512") from None
        return self.user(name)

    def ensure(self, name: str, role: Role, password: str) -> None:
        """Create the user unless one of that name exists (the console's first
        administrator, from a file at start)."""
        if not self._db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            passwords.require_acceptable(password)
            self.create(name, role, passwords.make_hash(password))

    def user(self, name: str) -> User:
        row = self._db.execute("SELECT name, role, created FROM users WHERE name = ?",
                               (name,)).fetchone()
        if row is None:
            raise ObjectNotFound(f"No user named {name} on this console.", code="HSCLF513")
        return User(name=row[0], role=Role(row[1]), created=row[2])

    def users(self) -> list[User]:
        rows = self._db.execute("SELECT name, role, created FROM users ORDER BY name")
        return [User(name=n, role=Role(r), created=c) for n, r, c in rows]

    def change(self, name: str, role: Role | None = None,
               password_hash: str | None = None) -> User:
        self.user(name)
        if role is not None:
            self._db.execute("UPDATE users SET role = ? WHERE name = ?", (role.value, name))
        if password_hash is not None:
            self._db.execute("UPDATE users SET password = ? WHERE name = ?",
                             (password_hash, name))
            # A new password ends the sessions opened with the old one.
            self._db.execute("DELETE FROM tokens WHERE user = ? AND expires IS NOT NULL",
                             (name,))
        return self.user(name)

    def remove(self, name: str) -> None:
        self.user(name)
        self._db.execute("DELETE FROM tokens WHERE user = ?", (name,))
        self._db.execute("DELETE FROM authorized_keys WHERE user = ?", (name,))
        self._db.execute("DELETE FROM users WHERE name = ?", (name,))

    # -- signing in ---------------------------------------------------------------------

    def password_hash(self, name: str) -> str | None:
        """The user's password hash, None for no such user (``signin.py`` checks it)."""
        row = self._db.execute("SELECT password FROM users WHERE name = ?",
                               (name,)).fetchone()
        return None if row is None else str(row[0])

    def renew_hash(self, name: str, password_hash: str) -> None:
        """The same password hashed at today's cost; its sessions stay open."""
        self._db.execute("UPDATE users SET password = ? WHERE name = ?",
                         (password_hash, name))

    def open_session(self, name: str) -> tuple[str, float]:
        """A new session token for a user whose password was checked, and its expiry."""
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

    # -- SSH keys -----------------------------------------------------------------------

    def add_key(self, user: str, line: str) -> AuthorizedKey:
        """``mkauthkeys -a LINE``: a public key ``user`` may sign in with at the SSH door.

        Raises ObjectNotFound (HSCLF513) for no such user; RequestInvalid (HSCLF542,
        HSCLF543, ``publickeys.parse``) for a line it does not take; ObjectExists
        (HSCLF544) for a key the user has already; WrongState (HSCLF545) when the user
        has KEYS_MAX keys.
        """
        self.user(user)
        key = publickeys.parse(line)
        count = self._db.execute("SELECT COUNT(*) FROM authorized_keys WHERE user = ?",
                                 (user,)).fetchone()[0]
        if count >= KEYS_MAX:
            raise WrongState(f"User {user} has {KEYS_MAX} SSH keys, the most a user may "
                             f"have: remove one first (mkauthkeys -r).", code="HSCLF545")
        key_id = secrets.token_hex(4)
        try:
            self._db.execute("INSERT INTO authorized_keys VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (key_id, user, key.type, key.base64, key.comment,
                              key.fingerprint, time.time()))
        except sqlite3.IntegrityError:
            raise ObjectExists(f"User {user} has this key already ({key.fingerprint}).",
                               code="HSCLF544") from None
        return next(k for k in self.keys(user) if k.id == key_id)

    def keys(self, user: str) -> list[AuthorizedKey]:
        """The SSH keys of ``user``, oldest first (``lsauthkeys``).

        Raises ObjectNotFound (HSCLF513) for no such user.
        """
        self.user(user)
        rows = self._db.execute(f"SELECT {KEY_COLUMNS} FROM authorized_keys WHERE user = ? "
                                f"ORDER BY added, id", (user,))
        return [AuthorizedKey(id=i, user=u, type=t, fingerprint=f, comment=c, added=a,
                              key=f"{t} {b} {c}".rstrip())
                for i, u, t, b, c, f, a in rows]

    def remove_key(self, user: str, match: str) -> int:
        """``mkauthkeys -r MATCH``: remove the keys of ``user`` that MATCH names: a whole
        key line, its base64 part, its comment (``user@host``), its fingerprint or id.

        Raises ObjectNotFound: HSCLF513 for no such user, HSCLF549 when no key matches.
        """
        gone = [k.id for k in self.keys(user) if matches(k, match)]
        for key_id in gone:
            self._db.execute("DELETE FROM authorized_keys WHERE id = ? AND user = ?",
                             (key_id, user))
        if not gone:
            raise ObjectNotFound(f"User {user} has no SSH key matching {match[:80]!r}: "
                                 f"give a key line, its base64 part, its comment "
                                 f"(user@host), its fingerprint or its id as lsauthkeys "
                                 f"shows them.", code="HSCLF549")
        return len(gone)

    def authorized_keys(self, user: str) -> list[str]:
        """The keys ``user`` may sign in with, as OpenSSH lines ``TYPE BASE64`` (none for
        no such user)."""
        rows = self._db.execute("SELECT type, base64 FROM authorized_keys WHERE user = ? "
                                "ORDER BY added, id", (user,))
        return [f"{t} {b}" for t, b in rows]

    def _issue(self, user: str, name: str, expires: float | None) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, NULL)",
                         (secrets.token_hex(4), _digest(token), user, name, time.time(),
                          expires))
        return token


def matches(key: AuthorizedKey, match: str) -> bool:
    """Whether ``match`` names ``key``: its line (the comment aside), its base64 part, its
    comment, its fingerprint or its id."""
    text = " ".join(match.split())
    fields = text.split(" ")
    base64 = key.key.split(" ")[1]
    if len(fields) >= 2 and fields[0] == key.type and fields[1] == base64:
        return True
    return text in (base64, key.fingerprint, key.id) or (bool(key.comment) and
                                                         text == key.comment)
