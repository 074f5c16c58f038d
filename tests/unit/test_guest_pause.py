"""The guest's pause, source STOP to target RESUME, on one time line across two hosts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openlpm.hmc.mobility.pause import ClockOffset, clock_offset, guest_pause


class SkewedAgent:
    """An agent whose host clock runs ``offset`` s ahead of the console's."""

    def __init__(self, offset: float, console: Iterator[float]) -> None:
        self.offset = offset
        self.console = console
        self.readings = 0

    async def clock(self) -> float:
        self.readings += 1
        return next(self.console) + self.offset


async def test_the_offset_comes_from_the_reading_with_the_shortest_round_trip() -> None:
    # The console's clock at each send, agent read and receive: round trips of
    # 40 ms, 2 ms and 10 ms; the agent reads its clock when the request arrives.
    times = iter([100.000, 100.030, 100.040,
                  200.000, 200.001, 200.002,
                  300.000, 300.005, 300.010])
    agent = SkewedAgent(offset=7.0, console=times)
    offset = await clock_offset(agent, now=lambda: next(times))  # type: ignore[arg-type]
    assert agent.readings == 3
    assert offset.offset_s == pytest.approx(7.0, abs=1e-6)
    assert offset.uncertainty_s == pytest.approx(0.001)


def test_the_pause_puts_both_stamps_on_the_console_s_clock() -> None:
    source = ClockOffset(offset_s=-5.0, uncertainty_s=0.001)  # 5 s behind the console
    target = ClockOffset(offset_s=3.0, uncertainty_s=0.002)  # 3 s ahead
    # STOP at 1000.000 console time, RESUME 123 ms later.
    pause = guest_pause(paused_at=995.000, source=source, resumed_at=1003.123, target=target)
    assert pause.ms == 123
    assert pause.uncertainty_ms == pytest.approx(3.0)


def test_a_pause_is_never_negative() -> None:
    exact = ClockOffset(0.0, 0.0)
    assert guest_pause(10.0, exact, 9.999, exact).ms == 0
