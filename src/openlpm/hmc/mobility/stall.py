"""The stall cut-off of step 4: a stream that makes no progress is cut at its time, and
the error names the part that stopped it.

Progress is the source QEMU's count of bytes sent growing. The cut-off is measured from
the last growth, whatever the console is waiting on meanwhile: a progress question that
the source does not answer (its QEMU or its agent stopped) counts as no progress, and is
itself cut at the cut-off. When it comes, the parts are asked, briefly and at once, which
of them stopped: a target QEMU that does not answer (its stream backs up in the movers'
buffers and the source can send nothing more), the source's QEMU or agent that did not
answer the progress questions, a mover service that does not answer; else the link
between the mover services.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field

from openlpm.clients.seams import MigrationAgent, MigrationMover
from openlpm.errors import MigrationFailed, OpenLpmError
from openlpm.model import PartitionState

# How long each part has to answer the diagnosis (the target agent's own question to its
# QEMU is shorter, see agent/qemu.py QMP_PROBE_TIMEOUT_S).
DIAGNOSIS_TIMEOUT_S = 10.0


class Silent(enum.Enum):
    """What on the source did not answer the newest progress question."""

    QEMU = "QEMU"
    AGENT = "agent"


@dataclass
class StallWatch:
    """When the stream last made progress, and what kept the console from knowing since."""

    timeout_s: float
    sent: int = 0
    moved_at: float = field(default_factory=time.monotonic)
    silent: Silent | None = None

    def sampled(self, transferred: int, committed: bool) -> None:
        """A progress sample; after the commit point every sample counts as progress
        (giving up then would lose the partition)."""
        self.silent = None
        if transferred > self.sent or committed:
            self.sent, self.moved_at = transferred, time.monotonic()

    def left(self) -> float:
        """Seconds until the cut-off, if nothing moves meanwhile."""
        return max(0.0, self.moved_at + self.timeout_s - time.monotonic())

    @property
    def overdue(self) -> bool:
        return self.left() <= 0


@dataclass(frozen=True)
class StalledStream:
    """The parts of a stream, as the diagnosis names them."""

    partition: str
    source: str
    target: str
    target_agent: MigrationAgent
    movers: tuple[tuple[str, MigrationMover], ...]
    migration_id: str


async def diagnose(stream: StalledStream, watch: StallWatch) -> MigrationFailed:
    """The error of a stream cut off for making no progress, naming the part that stopped
    it. Asks the target agent about its QEMU and each mover for its channel, at once,
    each within DIAGNOSIS_TIMEOUT_S."""
    seconds = f"{watch.timeout_s:.0f}"
    head = f"The stream of {stream.partition} made no progress for {seconds} s:"
    target_qemu, *movers = await asyncio.gather(
        _target_qemu_answers(stream), *(_mover_answers(stream, m) for _, m in stream.movers))
    if target_qemu is False:
        return MigrationFailed(
            f"{head} the QEMU of {stream.partition} on the target system {stream.target} "
            f"does not answer (it is stopped or hung), so it takes no more of the stream.",
            code="HSCLF215")
    if watch.silent is Silent.QEMU:
        return MigrationFailed(
            f"{head} the QEMU of {stream.partition} on the source system {stream.source} "
            f"does not answer (it is stopped or hung).", code="HSCLF216")
    if watch.silent is Silent.AGENT:
        return MigrationFailed(
            f"{head} the agent of the source system {stream.source} does not answer.",
            code="HSCLF217")
    silent_movers = [name for (name, _), answers in zip(stream.movers, movers, strict=True)
                     if not answers]
    if silent_movers:
        return MigrationFailed(
            f"{head} the mover service {' and '.join(silent_movers)} does not answer.",
            code="HSCLF211")
    return MigrationFailed(f"{head} the link between the mover services is down.",
                           code="HSCLF211")


async def _target_qemu_answers(stream: StalledStream) -> bool | None:
    """Whether the target's QEMU answers its agent; None when the agent does not say."""
    try:
        async with asyncio.timeout(DIAGNOSIS_TIMEOUT_S):
            runtime = await stream.target_agent.runtime(stream.partition)
    except (OpenLpmError, TimeoutError):
        return None
    # The target's QEMU runs from step 3 on: one that reports no status did not answer.
    return not (runtime.state == PartitionState.MIGRATING_RUNNING
                and runtime.qemu_status is None)


async def _mover_answers(stream: StalledStream, mover: MigrationMover) -> bool:
    try:
        async with asyncio.timeout(DIAGNOSIS_TIMEOUT_S):
            await mover.stats(stream.migration_id)
    except TimeoutError:
        return False
    except OpenLpmError as exc:
        # An answer, even an error one, is a mover that answers; one that cannot be
        # reached does not.
        return exc.code != "HSCLF107"
    return True
