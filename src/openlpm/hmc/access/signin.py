"""Signing in to the console (``POST /login``, the web console's ``POST /session``).

What a guesser meets: the password is checked by scrypt off the event loop
(``passwords.Hasher``), so a burst of sign-ins does not stall the migrations the console
drives; a user that does not exist costs the same check, so the time taken does not
tell which users do; failed attempts are counted per user name and per client address
(``throttle.py``), and past the limit an attempt is refused at once (HSCLF510), its
password unchecked. Every attempt is audited under the name given.
"""

from __future__ import annotations

import asyncio

from openlpm.errors import NotSignedIn, TooManyAttempts
from openlpm.hmc.access import passwords
from openlpm.hmc.access.guard import AuditLog
from openlpm.hmc.access.passwords import Hasher
from openlpm.hmc.access.throttle import SignInThrottle
from openlpm.hmc.stores.users import Users
from openlpm.model import Login, Session

# A wrong password costs the guesser this long, whatever else happens.
FAILED_SIGN_IN_DELAY_S = 0.5


class SignIn:
    def __init__(self, users: Users, audit: AuditLog, hasher: Hasher | None = None,
                 throttle: SignInThrottle | None = None) -> None:
        self.users = users
        self.audit = audit
        self.hasher = hasher or Hasher()
        self.throttle = throttle or SignInThrottle()

    async def __call__(self, login: Login, address: str) -> Session:
        """A new session for a user and password, asked from ``address``; audited.

        Raises TooManyAttempts (HSCLF510) while the user or the address has failed too
        often; NotSignedIn (HSCLF501, after a delay) for a wrong user or password.
        """
        try:
            self.throttle.begin(login.user, address)
        except TooManyAttempts as exc:
            self.audit.record(login.user, "sign in", "refused", exc.code)
            raise
        stored = await self._matched_hash(login)
        self.throttle.succeeded(login.user, address)
        if not passwords.is_current(stored):
            self.users.renew_hash(login.user, await self.hasher.make_hash(login.password))
        user = self.users.user(login.user)
        token, expires = self.users.open_session(user.name)
        self.audit.record(user.name, "sign in", "done")
        return Session(user=user.name, role=user.role, token=token, expires=expires)

    async def _matched_hash(self, login: Login) -> str:
        """The user's password hash, once the password given matched it.

        Raises NotSignedIn (HSCLF501), after a delay, for a wrong user or password.
        """
        stored = self.users.password_hash(login.user)
        if await self.hasher.matches(login.password, stored) and stored is not None:
            return stored
        self.audit.record(login.user, "sign in", "refused", "HSCLF501")
        await asyncio.sleep(FAILED_SIGN_IN_DELAY_S)
        raise NotSignedIn("Wrong user or password.", code="HSCLF501")
