"""The console's parts, made once: its stores, authorities, site, board and engines.

``Console.open`` is the one place they are wired together; ``hmc/http/app.py`` keeps the
result in the app's state, and every router gets it through a FastAPI dependency
(``hmc/http/depends.py``), never through closures.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from openlpm.authority import CertificateAuthority, client_context
from openlpm.hmc.access.guard import AuditLog, Guard
from openlpm.hmc.access.signin import SignIn
from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.mobility.migrate import MigrationEngine
from openlpm.hmc.mobility.recover import Recovery
from openlpm.hmc.placement.balancer import Balancer
from openlpm.hmc.placement.evacuation import Evacuation
from openlpm.hmc.site.systems import Site
from openlpm.hmc.stores.consoles import Consoles
from openlpm.hmc.stores.inventory import Inventory
from openlpm.hmc.stores.san import SanStore
from openlpm.hmc.stores.users import Users
from openlpm.model import Role


@dataclass(frozen=True)
class Console:
    name: str
    inventory: Inventory
    users: Users
    audit: AuditLog
    guard: Guard
    sign_in: SignIn
    consoles: Consoles
    site: Site
    board: MigrationBoard
    engine: MigrationEngine
    recovery: Recovery
    evacuation: Evacuation
    balancer: Balancer

    @classmethod
    def open(cls, db_path: Path, name: str = "",
             first_admin: tuple[str, str] | None = None) -> Console:
        """The console whose stores are at ``db_path`` (its authorities beside it).
        ``first_admin`` (user, password) is made a super administrator unless that user
        exists: how a new console gets its first user."""
        inventory = Inventory(db_path)
        users, audit = Users(db_path), AuditLog(db_path)
        if first_admin is not None:
            users.ensure(first_admin[0], Role.SUPERADMIN, first_admin[1])
        authority = CertificateAuthority(db_path.parent / "authority",
                                         f"{name} mover authority")
        # Agents get their certificates from an authority of their own: a mover, certified
        # by the other, cannot pass for the console with an agent.
        control = CertificateAuthority(db_path.parent / "authority" / "agents",
                                       f"{name} agent authority")
        consoles = Consoles(db_path)
        sans = SanStore(db_path)
        site = Site(inventory, authority, control,
                    client_context(control, control.directory, f"{name} console"), consoles,
                    name, sans)
        board = MigrationBoard(inventory)
        engine = MigrationEngine(site, board)
        return cls(name=name, inventory=inventory, users=users, audit=audit,
                   guard=Guard(users, audit), sign_in=SignIn(users, audit),
                   consoles=consoles, site=site, board=board, engine=engine,
                   recovery=Recovery(site, board, engine.driven),
                   evacuation=Evacuation(engine, name), balancer=Balancer(engine, name))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The console at work (the app's lifespan): migrations an earlier run left
        unfinished are abandoned, then settled in the background while the engine runs;
        its stores and site are closed after."""
        abandoned = await self.board.abandon_unfinished()
        async with self.engine.running(), asyncio.TaskGroup() as group:
            settling = group.create_task(self.recovery.recover_all(abandoned))
            yield
            settling.cancel()
        await self.site.close()
        self.inventory.close()
        self.consoles.close()
        if self.site.sans is not None:
            self.site.sans.close()
        self.users.close()
        self.audit.close()
