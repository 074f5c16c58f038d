"""The balance planner on synthetic sites: every plan is valid (capacity, policy,
validation's refusals, maintenance), lowers the spread, and uses few moves."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from openlpm.hmc.placement.balance_plan import (
    Balance,
    Guest,
    Host,
    Policy,
    capacity,
    demand,
    plan_moves,
)
from openlpm.model import BalanceGoal

CPU, MEMORY = BalanceGoal.CPU, BalanceGoal.MEMORY
NO_POLICY = Policy()


def synthetic_site(systems: int, per_system: int, seed: int) -> tuple[list[Host], list[Guest]]:
    """Systems of mixed sizes, some crowded and some quiet, partitions of mixed sizes."""
    rng = random.Random(seed)
    hosts = [Host(f"sys{i}", cpus=rng.choice([32, 64, 128]),
                  memory_mb=rng.choice([131072, 262144, 524288])) for i in range(systems)]
    guests = []
    for host in hosts:
        busy = rng.random()
        for j in range(rng.randint(per_system // 2, per_system * 3 // 2)):
            guests.append(Guest(f"{host.name}-p{j}", host.name,
                                cpu_cores=round(rng.uniform(0, 4) * busy, 3),
                                procs=rng.choice([1, 2, 4]),
                                memory_mb=rng.choice([2048, 4096, 8192, 16384])))
    return hosts, guests


def loads_after(hosts: Sequence[Host], guests: Sequence[Guest], plan: Balance,
                goal: BalanceGoal) -> dict[str, float]:
    """Each system's load once the plan's moves are done, computed independently."""
    where = {g.name: g.system for g in guests}
    for move in plan.moves:
        assert where[move.partition] == move.source, f"{move} starts elsewhere"
        where[move.partition] = move.target
    used = {h.name: 0.0 for h in hosts if h.accepts}
    for guest in guests:
        if where[guest.name] in used:
            used[where[guest.name]] += demand(guest, goal)
    return {h.name: used[h.name] / capacity(h, goal) for h in hosts if h.accepts}


def spread(loads: dict[str, float]) -> float:
    values = list(loads.values())
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def assert_valid(hosts: Sequence[Host], guests: Sequence[Guest], plan: Balance,
                 policy: Policy = NO_POLICY, forbidden: frozenset[tuple[str, str]]
                 = frozenset()) -> None:
    by_name = {h.name: h for h in hosts}
    where = {g.name: g.system for g in guests}
    for move in plan.moves:
        where[move.partition] = move.target
        assert by_name[move.target].accepts and by_name[move.source].accepts
        assert (move.partition, move.target) not in forbidden
        assert move.partition not in policy.pins
    for host in hosts:
        mine = [g for g in guests if where[g.name] == host.name]
        assert sum(g.procs for g in mine) <= host.cpus or not any(
            m.target == host.name for m in plan.moves), f"{host.name} over its processors"
        assert sum(g.memory_mb for g in mine) <= host.memory_mb or not any(
            m.target == host.name for m in plan.moves), f"{host.name} over its memory"
    for group in policy.apart:
        systems = [where[name] for name in group]
        moved = {m.partition for m in plan.moves} & group
        assert not moved or len(set(systems)) == len(systems), f"{group} share a system"
    senders = {m.source for m in plan.moves}
    receivers = {m.target for m in plan.moves}
    assert not senders & receivers, "a system both sends and receives"


@pytest.mark.parametrize("goal", [CPU, MEMORY])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plans_on_hundreds_of_systems_are_valid_and_lower_the_spread(
        goal: BalanceGoal, seed: int) -> None:
    hosts, guests = synthetic_site(300, 10, seed)

    plan = plan_moves(hosts, guests, goal, max_moves=40)

    assert_valid(hosts, guests, plan)
    assert 0 < len(plan.moves) <= 40
    after = loads_after(hosts, guests, plan, goal)
    assert spread(after) == pytest.approx(plan.spread_after, abs=1e-9)
    assert plan.spread_after < plan.spread_before


def test_each_move_is_worth_making_so_a_balanced_site_gets_none() -> None:
    hosts = [Host(f"s{i}", 16, 65536) for i in range(4)]
    guests = [Guest(f"p{i}", f"s{i % 4}", 1.0, 1, 4096) for i in range(8)]
    assert plan_moves(hosts, guests, CPU, max_moves=10).moves == ()


def test_the_busiest_partition_goes_from_the_busiest_system_to_the_quietest() -> None:
    hosts = [Host("busy", 8, 65536), Host("quiet", 8, 65536), Host("mid", 8, 65536)]
    guests = [Guest("hot", "busy", 4.0, 1, 4096), Guest("warm", "busy", 2.0, 1, 4096),
              Guest("m", "mid", 3.0, 1, 4096), Guest("q", "quiet", 0.5, 1, 4096)]
    plan = plan_moves(hosts, guests, CPU, max_moves=1)
    # Moving "hot" would only make "quiet" the busiest; "warm" evens the three out.
    assert [(m.partition, m.source, m.target) for m in plan.moves] == \
        [("warm", "busy", "quiet")]
    assert plan.spread_after < plan.spread_before


def test_max_moves_is_a_ceiling() -> None:
    hosts, guests = synthetic_site(100, 10, 7)
    assert len(plan_moves(hosts, guests, CPU, max_moves=3).moves) == 3
    assert plan_moves(hosts, guests, CPU, max_moves=0).moves == ()


def test_a_target_without_free_processors_or_memory_receives_nothing() -> None:
    hosts = [Host("busy", 4, 65536), Host("full", 4, 8192)]
    guests = [Guest("a", "busy", 3.0, 2, 4096), Guest("b", "busy", 3.0, 2, 4096),
              Guest("f", "full", 0.0, 1, 8192)]
    assert plan_moves(hosts, guests, CPU, max_moves=5).moves == ()


def test_pinned_partitions_stay_and_apart_ones_never_share_a_system() -> None:
    hosts = [Host("busy", 8, 65536), Host("a", 8, 65536), Host("b", 8, 65536)]
    guests = [Guest("pinned", "busy", 4.0, 1, 1024), Guest("web1", "busy", 2.0, 1, 1024),
              Guest("web2", "a", 0.2, 1, 1024), Guest("x", "busy", 1.0, 1, 1024)]
    policy = Policy(pins={"pinned": "busy"}, apart=(frozenset({"web1", "web2"}),))

    plan = plan_moves(hosts, guests, CPU, max_moves=5, policy=policy)

    assert_valid(hosts, guests, plan, policy)
    assert "pinned" not in {m.partition for m in plan.moves}
    assert ("web1", "a") not in {(m.partition, m.target) for m in plan.moves}
    assert plan.moves, "the site can still be balanced within the policy"


def test_moves_validation_refused_are_not_planned_again() -> None:
    hosts, guests = synthetic_site(50, 10, 11)
    first = plan_moves(hosts, guests, CPU, max_moves=5)
    forbidden = frozenset((m.partition, m.target) for m in first.moves)

    second = plan_moves(hosts, guests, CPU, max_moves=5, forbidden=forbidden)

    assert_valid(hosts, guests, second, forbidden=forbidden)
    assert second.moves


def test_systems_in_maintenance_take_no_part() -> None:
    hosts = [Host("busy", 8, 65536), Host("quiet", 8, 65536),
             Host("closed", 8, 65536, accepts=False)]
    guests = [Guest("a", "busy", 4.0, 1, 1024), Guest("b", "busy", 3.0, 1, 1024),
              Guest("c", "closed", 8.0, 1, 1024)]
    plan = plan_moves(hosts, guests, CPU, max_moves=5)
    assert {m.target for m in plan.moves} <= {"quiet"}
    assert "closed" not in plan.loads_after and "c" not in {m.partition for m in plan.moves}


def test_partitions_that_may_not_migrate_stay() -> None:
    hosts = [Host("busy", 8, 65536), Host("quiet", 8, 65536)]
    guests = [Guest("a", "busy", 4.0, 1, 1024, movable=False),
              Guest("b", "busy", 3.0, 1, 1024)]
    assert [m.partition for m in plan_moves(hosts, guests, CPU, 5).moves] == ["b"]
