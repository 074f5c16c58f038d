"""Migration records as they change: kept in the inventory, pushed to whoever watches.

Besides each migration's own feed, the board keeps a short log of every change (a
migration record, or "a system's partitions changed") for the console-wide event stream
the web console listens to.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import AsyncIterator

from openlpm.hmc.stores.inventory import Inventory
from openlpm.model import MigrationRecord, MigrationState

# Changes kept for watchers of every change; one that falls further behind misses some
# and is told to look again (a SystemChanged for every system).
RECENT_CHANGES = 1000


class SystemChanged(str):
    """The partitions of this managed system changed (created, started, stopped, ...)."""


Change = MigrationRecord | SystemChanged


class MigrationBoard:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._changed = asyncio.Condition()
        self._live: dict[str, MigrationRecord] = {}
        self._version = 0
        self._recent: deque[tuple[int, Change]] = deque(maxlen=RECENT_CHANGES)

    def in_flight(self) -> list[MigrationRecord]:
        return list(self._live.values())

    def in_flight_of(self, system: str, partition: str) -> MigrationRecord | None:
        """The partition's migration in flight with ``system`` as source or target."""
        return next((r for r in self._live.values()
                     if r.partition == partition and system in (r.source, r.target)), None)

    async def publish(self, record: MigrationRecord) -> None:
        self.inventory.save_migration(record)
        if record.state.finished:
            self._live.pop(record.id, None)
        else:
            self._live[record.id] = record
        await self._changes(record)

    async def system_changed(self, system: str) -> None:
        await self._changes(SystemChanged(system))

    async def _changes(self, change: Change) -> None:
        async with self._changed:
            self._version += 1
            self._recent.append((self._version, change))
            self._changed.notify_all()

    async def watch_all(self) -> AsyncIterator[Change | None]:
        """Every change from now on, in order; None where some were missed."""
        seen = self._version
        while True:
            async with self._changed:
                await self._changed.wait_for(functools.partial(self._moved_on, seen))
            changes = [(v, c) for v, c in self._recent if v > seen]
            if not changes or changes[0][0] != seen + 1:
                yield None
            for _, change in changes:
                yield change
            seen = changes[-1][0] if changes else self._version

    async def abandon_unfinished(self) -> list[MigrationRecord]:
        """After a restart of the console, no job drives the migrations it had in flight.

        Returns them, marked failed, for recovery to settle. A migration another console
        drives is not this one's to settle: it is left as that console last reported it.
        """
        abandoned = []
        for record in self.inventory.migrations():
            if not record.state.finished and record.driven_by is None:
                self.inventory.journal(record.id, record.step, "abandoned",
                                       "the console restarted during the migration")
                abandoned.append(record)
                await self.publish(record.model_copy(update={
                    "state": MigrationState.FAILED, "ended": time.time(),
                    "error_code": "HSCLF204",
                    "error_message": "The console restarted during this migration. Until "
                                     "it is recovered the partition may be on either "
                                     "system: the console recovers it when it can, or run "
                                     "migrlpar -o r."}))
        return abandoned

    def _moved_on(self, seen: int) -> bool:
        return self._version != seen

    async def watch(self, migration_id: str) -> AsyncIterator[MigrationRecord]:
        """Yield the record now and after each change, until the migration is finished."""
        last: MigrationRecord | None = None
        while True:
            seen = self._version
            record = self._live.get(migration_id) or self.inventory.migration(migration_id)
            if record != last:
                yield record
                last = record
            if record.state.finished:
                return
            async with self._changed:
                await self._changed.wait_for(functools.partial(self._moved_on, seen))
