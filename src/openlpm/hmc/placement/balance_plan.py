"""Balancing a site: a few migrations that even out the load across managed systems.

``plan_moves`` is a pure function of the systems, their partitions and a policy, tested
on synthetic sites of a thousand systems. The load of a system is its partitions' use of
the goal resource (processor cores actually used over a window, or memory given) over
its capacity; the spread is the standard deviation of those loads across the systems
that take partitions (not in maintenance). The planner is greedy: each round it takes
the move, from one of the most loaded systems to one of the least loaded, that lowers
the spread the most, and stops when no move lowers it by at least ``min_gain`` or after
``max_moves`` moves.

A move must fit the target's unallocated processors and memory (what the agent checks at
step 1), honour the policy (a pinned partition stays on its system; partitions kept
apart never share one), and avoid any (partition, target) pair ``forbidden`` (those
validation refused). A system that sends a partition receives none in the same plan and
the reverse, so all moves can run at once without one waiting for another's room.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from openlpm.model import BalanceGoal

# How many of the most and least loaded systems each round considers.
CANDIDATE_SYSTEMS = 4
MIN_GAIN = 1e-4


@dataclass(frozen=True)
class Host:
    name: str
    cpus: int
    memory_mb: int
    accepts: bool = True  # False: in maintenance or unreachable


@dataclass(frozen=True)
class Guest:
    name: str
    system: str
    cpu_cores: float  # used over the window
    procs: int  # allocated
    memory_mb: int  # allocated
    movable: bool = True


@dataclass(frozen=True)
class Policy:
    pins: Mapping[str, str] = field(default_factory=dict)  # partition -> system
    apart: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class Move:
    partition: str
    source: str
    target: str


@dataclass(frozen=True)
class Balance:
    moves: tuple[Move, ...]
    spread_before: float
    spread_after: float
    loads_before: Mapping[str, float]
    loads_after: Mapping[str, float]


def demand(guest: Guest, goal: BalanceGoal) -> float:
    return guest.cpu_cores if goal == BalanceGoal.CPU else float(guest.memory_mb)


def capacity(host: Host, goal: BalanceGoal) -> float:
    return float(host.cpus if goal == BalanceGoal.CPU else host.memory_mb)


class _Site:
    """The state a plan changes, with the running sums that make a move's effect O(1)."""

    def __init__(self, hosts: Sequence[Host], guests: Sequence[Guest], goal: BalanceGoal):
        self.hosts = {h.name: h for h in hosts if h.accepts}
        self.goal = goal
        self.used = dict.fromkeys(self.hosts, 0.0)
        self.procs = dict.fromkeys(self.hosts, 0)
        self.memory = dict.fromkeys(self.hosts, 0)
        self.guests: dict[str, list[Guest]] = {name: [] for name in self.hosts}
        self.where: dict[str, str] = {}
        for guest in guests:
            if guest.system in self.hosts:
                self._add(guest, guest.system)
        self.sum = sum(self.load(n) for n in self.hosts)
        self.sum_sq = sum(self.load(n) ** 2 for n in self.hosts)

    def _add(self, guest: Guest, system: str) -> None:
        self.used[system] += demand(guest, self.goal)
        self.procs[system] += guest.procs
        self.memory[system] += guest.memory_mb
        self.guests[system].append(guest)
        self.where[guest.name] = system

    def load(self, system: str) -> float:
        return self.used[system] / max(capacity(self.hosts[system], self.goal), 1e-9)

    def variance(self) -> float:
        n = len(self.hosts)
        return max(0.0, self.sum_sq / n - (self.sum / n) ** 2) if n else 0.0

    def variance_after(self, guest: Guest, source: str, target: str) -> float:
        n, x = len(self.hosts), demand(guest, self.goal)
        old_s, old_t = self.load(source), self.load(target)
        new_s = (self.used[source] - x) / max(capacity(self.hosts[source], self.goal), 1e-9)
        new_t = (self.used[target] + x) / max(capacity(self.hosts[target], self.goal), 1e-9)
        total = self.sum - old_s - old_t + new_s + new_t
        squares = self.sum_sq - old_s ** 2 - old_t ** 2 + new_s ** 2 + new_t ** 2
        return max(0.0, squares / n - (total / n) ** 2)

    def fits(self, guest: Guest, target: str) -> bool:
        host = self.hosts[target]
        return (self.procs[target] + guest.procs <= host.cpus
                and self.memory[target] + guest.memory_mb <= host.memory_mb)

    def move(self, guest: Guest, source: str, target: str) -> None:
        old_s, old_t = self.load(source), self.load(target)
        self.guests[source].remove(guest)
        self.used[source] -= demand(guest, self.goal)
        self.procs[source] -= guest.procs
        self.memory[source] -= guest.memory_mb
        self._add(guest, target)
        new_s, new_t = self.load(source), self.load(target)
        self.sum += new_s + new_t - old_s - old_t
        self.sum_sq += new_s ** 2 + new_t ** 2 - old_s ** 2 - old_t ** 2


def plan_moves(hosts: Sequence[Host], guests: Sequence[Guest], goal: BalanceGoal,
               max_moves: int, policy: Policy = Policy(),
               forbidden: frozenset[tuple[str, str]] = frozenset(),
               min_gain: float = MIN_GAIN, candidates: int = CANDIDATE_SYSTEMS) -> Balance:
    site = _Site(hosts, guests, goal)
    before = {name: site.load(name) for name in site.hosts}
    spread_before = math.sqrt(site.variance())
    groups = {name: group for group in policy.apart for name in group}
    senders: set[str] = set()
    receivers: set[str] = set()
    moves: list[Move] = []
    while len(moves) < max_moves and len(site.hosts) > 1:
        variance = site.variance()
        by_load = [(site.load(n), n) for n in site.hosts]
        sources = [n for _, n in heapq.nlargest(candidates, by_load)
                   if n not in receivers]
        targets = [n for _, n in heapq.nsmallest(candidates, by_load)
                   if n not in senders]
        best: tuple[float, Guest, str, str] | None = None
        for source in sources:
            for guest in site.guests[source]:
                if not guest.movable or guest.name in policy.pins:
                    continue
                kept_from = {site.where[other] for other in groups.get(guest.name, ())
                             if other != guest.name and other in site.where}
                for target in targets:
                    if (target == source or target in kept_from
                            or (guest.name, target) in forbidden
                            or not site.fits(guest, target)):
                        continue
                    after = site.variance_after(guest, source, target)
                    if best is None or after < best[0]:
                        best = (after, guest, source, target)
        if best is None or math.sqrt(variance) - math.sqrt(best[0]) < min_gain:
            break
        _, guest, source, target = best
        site.move(guest, source, target)
        senders.add(source)
        receivers.add(target)
        moves.append(Move(guest.name, source, target))
    return Balance(moves=tuple(moves), spread_before=spread_before,
                   spread_after=math.sqrt(site.variance()), loads_before=before,
                   loads_after={name: site.load(name) for name in site.hosts})
