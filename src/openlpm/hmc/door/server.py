"""The door's listener: who may sign in, how much a client may hold open, and ``Door``,
which the console's lifespan starts and stops.

Sign-in is by the console user's password, through the console's own ``SignIn``
(throttled per user and address, audited, as slow for an unknown user as for a known
one), or by a key the user added (``mkauthkeys -a``; ``Users.authorized_keys``). No other
method is offered. A signed-in connection holds one console session (a token that
expires), ended when the connection closes. A connection is dropped after
``Limits.auth_attempts`` refused attempts; a key refused is audited when its connection
ends unsigned-in. Nothing but sessions is served: no port
forwarding (asyncssh refuses them unless a server accepts), no agent or X11 forwarding,
no sftp or scp; environment variables a client sends are never passed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh
from pydantic import ValidationError

from openlpm.errors import OpenLpmError
from openlpm.hmc.door import runner, session
from openlpm.hmc.door.hostkey import fingerprint
from openlpm.model import Login

if TYPE_CHECKING:
    from openlpm.hmc.console import Console

log = logging.getLogger("openlpm.hmc.door")
# asyncssh logs each exec request's command line at INFO, and a command line may hold a
# password (mkauthkeys --passwd): the console's log keeps its warnings only. The audit
# log has every line, passwords masked.
QUIET_LIBRARY = logging.WARNING


@dataclass(frozen=True)
class Limits:
    connections: int = 64
    # Connections from one address not signed in yet: a client that opens many and
    # never signs in holds these, not every connection the door takes.
    connecting_per_address: int = 8
    # Connections one user holds signed in: one user cannot keep the others out.
    connections_per_user: int = 32
    # Failed sign-in attempts (a password, a key offered) before the door disconnects.
    auth_attempts: int = 10
    sessions_per_connection: int = 10
    # Each session runs its command as a process of its own (some 40 MB): the sessions
    # one user holds over all its connections, and all the door holds.
    sessions_per_user: int = 16
    sessions: int = 64
    # An interactive session waiting for a line, or a connection with no session.
    idle_s: float = 900.0
    # From connecting to signed in.
    login_s: float = 60.0


class DoorConnection(asyncssh.SSHServer):
    """One client's connection: its sign-in, its console session, its sessions."""

    def __init__(self, door: Door) -> None:
        self._door = door
        self._conn: asyncssh.SSHServerConnection | None = None
        self._address = "-"
        self._token: str | None = None
        self._user = ""
        self._sessions = 0
        self._failures = 0
        # The user a refused key was offered for, audited if the connection never signs in.
        self._key_refused: str | None = None
        self._idle: asyncio.TimerHandle | None = None

    # -- the connection -----------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        peer = conn.get_extra_info("peername")
        self._address = str(peer[0]) if peer else "-"
        limits, open_now = self._door.limits, self._door.connections
        connecting = sum(1 for c in open_now if c.connecting_from(self._address))
        if len(open_now) >= limits.connections or connecting >= limits.connecting_per_address:
            log.warning("refused SSH connection from %s: %d connections open, %d of them "
                        "from there signing in", self._address, len(open_now), connecting)
            conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS,
                            "Too many connections to this console; try again later.")
            return
        self._door.connections.add(self)

    def connecting_from(self, address: str) -> bool:
        """Whether this connection is from ``address`` and not signed in yet."""
        return self._address == address and self._token is None

    def signed_in_as(self, user: str) -> bool:
        return self._user == user and self._token is not None

    def connection_lost(self, exc: Exception | None) -> None:
        self._door.connections.discard(self)
        if self._token is None and self._key_refused is not None:
            self._door.console.audit.record(self._key_refused, "sign in (ssh key)",
                                            "refused", "HSCLF501")
        if self._idle is not None:
            self._idle.cancel()
        self._sign_out()

    def close(self) -> None:
        """Close the connection, its session ended now: the door is stopping, and the
        console's stores may be closed before the connection is gone."""
        self._sign_out()
        if self._conn is not None:
            self._conn.close()

    def _sign_out(self) -> None:
        if self._token is not None:
            with contextlib.suppress(OpenLpmError):
                self._door.console.users.sign_out(self._token)
            self._token = None

    # -- signing in ---------------------------------------------------------------------

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        try:
            login = Login(user=username, password=password)
        except ValidationError:
            self._door.console.audit.record(username, "sign in", "refused", "HSCLF501")
            return self._failed()
        try:
            signed_in = await self._door.console.sign_in(login, self._address)
        except OpenLpmError:
            return self._failed()
        self._token, self._user = signed_in.token, signed_in.user
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        offered = key.export_public_key("openssh").decode().split()[:2]
        try:
            held = self._door.console.users.authorized_keys(username)
        except OpenLpmError:
            held = []
        if any(line.split()[:2] == offered for line in held):
            return True
        self._key_refused = username
        return self._failed()

    def _failed(self) -> bool:
        """A refused attempt (False); past ``auth_attempts`` of them, the connection is
        dropped, as OpenSSH's MaxAuthTries does."""
        self._failures += 1
        if self._failures >= self._door.limits.auth_attempts and self._conn is not None:
            self._conn.disconnect(asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE,
                                  "Too many failed sign-in attempts.")
        return False

    def auth_completed(self) -> None:
        """Signed in: by password (SignIn opened the session), or by key (opened here)."""
        assert self._conn is not None
        if self._token is None:
            name = str(self._conn.get_extra_info("username"))
            console = self._door.console
            try:
                self._user = console.users.user(name).name
            except OpenLpmError:  # removed while signing in
                self._conn.close()
                return
            self._token, _ = console.users.open_session(self._user)
            console.audit.record(self._user, "sign in (ssh key)", "done")
        held = sum(1 for c in self._door.connections
                   if c is not self and c.signed_in_as(self._user))
        if held >= self._door.limits.connections_per_user:
            log.warning("closed SSH connection of %s from %s: %d connections of that user "
                        "open", self._user, self._address, held)
            self._conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS,
                                  f"Too many connections of user {self._user}.")
            return
        self._arm_idle()

    # -- sessions -----------------------------------------------------------------------

    async def serve(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """One session request of this connection, within the limits."""
        limits, held = self._door.limits, self._door.sessions
        if (self._sessions >= limits.sessions_per_connection
                or held[self._user] >= limits.sessions_per_user
                or held.total() >= limits.sessions):
            process.stderr.write(b"HSCLF826 Too many sessions on this connection, of this "
                                 b"user or on this console; close some, or try again "
                                 b"later.\n")
            # Its command line is not kept: it may hold a password, unmasked unread.
            self._door.console.audit.record(self._user, "ssh session", "refused",
                                            "HSCLF826")
            process.exit(2)
            return
        self._sessions += 1
        held[self._user] += 1
        if self._idle is not None:
            self._idle.cancel()
        try:
            await session.serve(process, self._context())
        finally:
            self._sessions -= 1
            held[self._user] -= 1
            if not self._sessions:
                self._arm_idle()

    def _context(self) -> session.SessionContext:
        assert self._token is not None
        return session.SessionContext(
            user=self._user, console=self._door.console.name or "hmc",
            child=runner.Child(api=self._door.api, token=self._token,
                               bin_dir=self._door.bin_dir),
            audit=self._door.console.audit, idle_s=self._door.limits.idle_s)

    def _arm_idle(self) -> None:
        """Close the connection when it holds no session for ``idle_s``."""
        if self._idle is not None:
            self._idle.cancel()
        conn = self._conn
        if conn is not None:
            self._idle = asyncio.get_running_loop().call_later(
                self._door.limits.idle_s, conn.close)


class Door:
    """The SSH listener on ``sock`` (bound by ``hmc serve``), serving ``console``'s
    commands; children reach its API at ``api`` (``unix:PATH``)."""

    def __init__(self, console: Console, sock: socket.socket, key: asyncssh.SSHKey,
                 api: str, limits: Limits | None = None,
                 bin_dir: Path = runner.BIN_DIR) -> None:
        """``bin_dir``: where the commands' scripts are (the interpreter's own)."""
        self.console = console
        self.bin_dir = bin_dir
        self.sock = sock
        self.key = key
        self.api = api
        self.limits = limits or Limits()
        self.connections: set[DoorConnection] = set()
        # The sessions open, by user.
        self.sessions: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        def made() -> DoorConnection:
            return DoorConnection(self)

        async def serve(process: asyncssh.SSHServerProcess[bytes]) -> None:
            owner = process.get_extra_info("connection")
            server = owner.get_owner() if owner is not None else None
            if isinstance(server, DoorConnection):
                await server.serve(process)
            else:
                process.exit(255)

        logging.getLogger("asyncssh").setLevel(QUIET_LIBRARY)
        listener = await asyncssh.listen(
            sock=self.sock, server_factory=made, server_host_keys=[self.key],
            process_factory=serve, encoding=None, line_editor=False, allow_scp=False,
            agent_forwarding=False, x11_forwarding=False, login_timeout=self.limits.login_s,
            keepalive_interval=60, keepalive_count_max=3)
        log.info("SSH door listening, host key %s", fingerprint(self.key))
        try:
            yield
        finally:
            listener.close()
            for connection in list(self.connections):
                connection.close()
            await listener.wait_closed()
