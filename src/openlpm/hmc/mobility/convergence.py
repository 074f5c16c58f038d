"""The convergence policy of a migration: what to do when pre-copy does not converge.

Pre-copy sends the memory, then what the guest dirtied meanwhile, pass after pass, until
what is left fits in the downtime limit. A guest that dirties memory faster than the
link carries it never gets there. Each policy answers with growing force:

* ``precopy``: the downtime limit grows by steps (doubling every few passes) up to the
  migration's maximum, trading a longer pause for an end;
* ``auto-converge``: the same, and QEMU throttles the guest's processors more and more
  until its dirty rate fits the link;
* ``postcopy``: the same as precopy, and when that has not converged after a few passes
  the partition switches to the target at once and pulls its remaining pages from the
  source on demand. It always ends, but from that moment the partition exists whole on
  neither system: losing the source or the link loses the partition. Opt-in only.

The policy is a pure state machine fed with QEMU's samples; the orchestrator carries out
its decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlpm.model import Convergence, MigrationProgress, StreamOptions, StreamStatus

INITIAL_DOWNTIME_LIMIT_MS = 300  # QEMU's own default
PASSES_PER_STEP = 3
POSTCOPY_AFTER_PASSES = 5


@dataclass(frozen=True)
class Decision:
    """One action on the stream: a new downtime limit, or the switch to post-copy."""

    downtime_limit_ms: int | None = None
    start_postcopy: bool = False


@dataclass
class ConvergencePolicy:
    kind: Convergence
    max_downtime_ms: int

    def __post_init__(self) -> None:
        self.downtime_limit_ms = min(INITIAL_DOWNTIME_LIMIT_MS, self.max_downtime_ms)
        self._stepped_at_pass = 0
        self.postcopy_started = False

    def options(self) -> StreamOptions:
        return StreamOptions(auto_converge=self.kind == Convergence.AUTO_CONVERGE,
                             postcopy=self.kind == Convergence.POSTCOPY,
                             downtime_limit_ms=self.downtime_limit_ms)

    def decide(self, sample: MigrationProgress) -> Decision | None:
        """What to do after this sample, if anything."""
        if sample.status != StreamStatus.ACTIVE:
            return None
        if (self.kind == Convergence.POSTCOPY and not self.postcopy_started
                and sample.passes >= POSTCOPY_AFTER_PASSES):
            self.postcopy_started = True
            return Decision(start_postcopy=True)
        if (sample.passes - self._stepped_at_pass >= PASSES_PER_STEP
                and self.downtime_limit_ms < self.max_downtime_ms):
            self._stepped_at_pass = sample.passes
            self.downtime_limit_ms = min(self.downtime_limit_ms * 2, self.max_downtime_ms)
            return Decision(downtime_limit_ms=self.downtime_limit_ms)
        return None
