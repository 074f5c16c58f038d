"""How many migrations run at once: per system and kind, and per mover; the rest queue.

The HMC's defaults are the reference: a system takes part in up to 16 active and 16
inactive migrations at once (its agent may say otherwise), a mover service carries up to
8 (the VIOS's ``cfg_msp_lpm_ops``). A migration beyond a limit waits, in the order it
came, and says what it waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from openlpm.model import MigrationKind


@dataclass(frozen=True)
class Limit:
    """One thing a migration uses, and how many migrations may use it at once."""

    what: str  # "managed system sys1 (active migrations)", "mover service msp1"
    most: int


class MigrationSlots:
    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._holding: dict[str, tuple[Limit, ...]] = {}
        self._queue: list[str] = []

    def in_use(self, limit: Limit) -> int:
        return sum(limit in held for held in self._holding.values())

    def _blocker(self, migration_id: str, limits: tuple[Limit, ...]) -> str | None:
        for limit in limits:
            if self.in_use(limit) >= limit.most:
                return f"{limit.what} runs {limit.most} migrations, its limit"
        ahead = self._queue[:self._queue.index(migration_id)]
        if ahead:
            return f"{len(ahead)} migration(s) queued before it"
        return None

    async def acquire(self, migration_id: str, limits: tuple[Limit, ...],
                      waiting: Callable[[str], Awaitable[None]]) -> None:
        """Take a slot of every limit, waiting (first come, first served) while one is
        full; ``waiting`` hears why each time the reason changes."""
        async with self._changed:
            self._queue.append(migration_id)
            try:
                told = None
                while (reason := self._blocker(migration_id, limits)) is not None:
                    if reason != told:
                        await waiting(reason)
                        told = reason
                    await self._changed.wait()
                self._holding[migration_id] = limits
            finally:
                self._queue.remove(migration_id)
                self._changed.notify_all()

    async def release(self, migration_id: str) -> None:
        async with self._changed:
            if self._holding.pop(migration_id, None) is not None:
                self._changed.notify_all()


def system_limit(name: str, kind: MigrationKind, most: int) -> Limit:
    return Limit(f"managed system {name} ({kind.value} migrations)", most)


def mover_limit(name: str, most: int) -> Limit:
    return Limit(f"mover service {name}", most)
