"""Migrations beyond a limit wait their turn, first come first served, and say why."""

from __future__ import annotations

import asyncio

from openlpm.hmc.mobility.slots import MigrationSlots, mover_limit, system_limit
from openlpm.model import MigrationKind

SYS1 = system_limit("sys1", MigrationKind.ACTIVE, 2)
MSP = mover_limit("msp1", 8)


async def test_migrations_up_to_the_limit_start_at_once_the_next_waits() -> None:
    slots = MigrationSlots()
    reasons: list[str] = []

    async def note(reason: str) -> None:
        reasons.append(reason)

    await slots.acquire("m1", (SYS1, MSP), note)
    await slots.acquire("m2", (SYS1, MSP), note)
    third = asyncio.create_task(slots.acquire("m3", (SYS1, MSP), note))
    await asyncio.sleep(0.01)

    assert not third.done()
    assert reasons == ["managed system sys1 (active migrations) runs 2 migrations, its limit"]
    await slots.release("m1")
    await asyncio.wait_for(third, 1.0)
    assert slots.in_use(SYS1) == 2 and slots.in_use(MSP) == 2


async def test_the_queue_is_first_come_first_served() -> None:
    slots = MigrationSlots()
    order: list[str] = []

    async def quiet(_: str) -> None:
        return None

    await slots.acquire("m1", (SYS1,), quiet)
    await slots.acquire("m2", (SYS1,), quiet)

    async def take(migration_id: str) -> None:
        await slots.acquire(migration_id, (SYS1,), quiet)
        order.append(migration_id)

    waiting = [asyncio.create_task(take(f"w{i}")) for i in range(3)]
    await asyncio.sleep(0.01)
    for holder in ("m1", "m2", "w0"):
        await slots.release(holder)
        await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(*waiting), 1.0)

    assert order == ["w0", "w1", "w2"]


async def test_a_migration_cancelled_while_queued_leaves_the_queue() -> None:
    slots = MigrationSlots()

    async def quiet(_: str) -> None:
        return None

    await slots.acquire("m1", (SYS1,), quiet)
    await slots.acquire("m2", (SYS1,), quiet)
    queued = asyncio.create_task(slots.acquire("m3", (SYS1,), quiet))
    await asyncio.sleep(0.01)
    queued.cancel()
    await asyncio.gather(queued, return_exceptions=True)
    await slots.release("m1")

    await asyncio.wait_for(slots.acquire("m4", (SYS1,), quiet), 1.0)
