"""The convergence policy: a downtime limit that grows by steps, post-copy as a last resort."""

from __future__ import annotations

from openlpm.hmc.mobility.convergence import ConvergencePolicy, Decision
from openlpm.model import Convergence, MigrationProgress


def sample(passes: int, status: str = "active") -> MigrationProgress:
    return MigrationProgress(status=status, passes=passes, transferred=passes << 20)


def decisions(policy: ConvergencePolicy, passes: range) -> list[tuple[int, Decision]]:
    return [(n, d) for n in passes if (d := policy.decide(sample(n))) is not None]


def test_precopy_starts_at_qemus_limit_and_doubles_every_few_passes_up_to_the_maximum() -> None:
    policy = ConvergencePolicy(Convergence.PRECOPY, max_downtime_ms=1000)
    assert policy.options().downtime_limit_ms == 300
    assert not policy.options().auto_converge and not policy.options().postcopy

    assert decisions(policy, range(1, 20)) == [
        (3, Decision(downtime_limit_ms=600)), (6, Decision(downtime_limit_ms=1000))]


def test_a_maximum_below_qemus_default_is_the_limit_from_the_start() -> None:
    policy = ConvergencePolicy(Convergence.PRECOPY, max_downtime_ms=50)
    assert policy.options().downtime_limit_ms == 50
    assert decisions(policy, range(1, 20)) == []


def test_auto_converge_asks_qemu_to_throttle() -> None:
    assert ConvergencePolicy(Convergence.AUTO_CONVERGE, 1000).options().auto_converge


def test_postcopy_switches_once_after_pre_copy_did_not_converge() -> None:
    policy = ConvergencePolicy(Convergence.POSTCOPY, max_downtime_ms=1000)
    assert policy.options().postcopy

    made = decisions(policy, range(1, 20))

    assert made.count((5, Decision(start_postcopy=True))) == 1
    assert [d for _, d in made if d.start_postcopy] == [Decision(start_postcopy=True)]


def test_nothing_is_decided_outside_pre_copy() -> None:
    policy = ConvergencePolicy(Convergence.POSTCOPY, max_downtime_ms=1000)
    assert policy.decide(sample(9, status="device")) is None
    assert policy.decide(sample(9, status="completed")) is None
