"""The guest's real pause in a live migration: from the source QEMU's STOP to the target
QEMU's RESUME.

Each QEMU stamps its event with its own host's clock. The console puts both stamps on
its own time line by reading each host's clock (the agent's ``GET /system/clock``) the
way NTP does: the offset is the host's reading less the middle of the round trip, known
to within half that round trip; of a few readings the one with the shortest round trip
is kept.

QEMU's own ``downtime`` is measured by the source alone, up to the moment its last byte
left: the bytes still in flight and the target's loading of the device state come after
it, so the guest's real pause is longer, and only both sides together can tell it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from openlpm.clients.seams import MigrationAgent

CLOCK_READINGS = 3


@dataclass(frozen=True)
class ClockOffset:
    """How far a host's clock is ahead of the console's (``offset_s``, negative when
    behind), known to within ``uncertainty_s``."""

    offset_s: float
    uncertainty_s: float


@dataclass(frozen=True)
class GuestPause:
    """The guest's pause on one time line, in milliseconds, and how precisely it is known."""

    ms: int
    uncertainty_ms: float


async def clock_offset(agent: MigrationAgent, readings: int = CLOCK_READINGS,
                       now: Callable[[], float] = time.time) -> ClockOffset:
    """The offset of the agent's host clock from the console's.

    Raises what the agent's client raises (SystemUnreachable, ...).
    """
    best: ClockOffset | None = None
    for _ in range(readings):
        sent = now()
        theirs = await agent.clock()
        received = now()
        reading = ClockOffset(theirs - (sent + received) / 2, (received - sent) / 2)
        if best is None or reading.uncertainty_s < best.uncertainty_s:
            best = reading
    assert best is not None
    return best


def guest_pause(paused_at: float, source: ClockOffset, resumed_at: float,
                target: ClockOffset) -> GuestPause:
    """The pause from the source's STOP stamp to the target's RESUME stamp, each read on
    its host's clock, both brought onto the console's."""
    stopped = paused_at - source.offset_s
    resumed = resumed_at - target.offset_s
    return GuestPause(ms=max(0, round((resumed - stopped) * 1000)),
                      uncertainty_ms=(source.uncertainty_s + target.uncertainty_s) * 1000)
