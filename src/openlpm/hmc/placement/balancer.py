"""``openlpm balance`` on the console: measure the site, plan, validate, move.

Each system's agent reports what its running partitions used over the window; the
planner (``balance.plan_moves``) proposes moves; each proposed move is validated for
real, and a move validation refuses is forbidden and the site planned again, so every
move of the answer passed the same checks as ``migrlpar -o v``. Systems in maintenance,
and systems whose agent does not answer, take no part. Partitions that do not run use no
processors or memory of their system, so only running partitions move.
"""

from __future__ import annotations

import asyncio

from openlpm.errors import OpenLpmError
from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.mobility.migrate import MigrationEngine
from openlpm.hmc.mobility.validate import MigrationPlan, answer, plan_migration
from openlpm.hmc.placement.balance_plan import Balance, Guest, Host, Move, Policy, plan_moves
from openlpm.hmc.site.systems import Site
from openlpm.model import (
    BalanceMove,
    BalancePlan,
    BalanceRequest,
    MigrationRequest,
    Partition,
    PartitionState,
    Severity,
    SystemLoad,
    SystemUtilization,
)

# Each round forbids at least one refused move; a site where more keep failing is left
# as it is rather than planned forever.
MAX_PLANNING_ROUNDS = 10


class Balancer:
    """Measures the site, plans and validates moves, and starts them on the engine."""

    def __init__(self, engine: MigrationEngine, console: str) -> None:
        self.engine = engine
        self.site: Site = engine.site
        self.board: MigrationBoard = engine.board
        self.console = console

    async def utilization(self, window_s: float) -> list[SystemUtilization]:
        """Every system whose agent answers, with what its partitions used."""
        answers = await asyncio.gather(
            *(answer(self.site.agent(s.name).utilization(window_s))
              for s in self.site.inventory.systems()))
        return [a for a in answers if isinstance(a, SystemUtilization)]

    async def run(self, request: BalanceRequest) -> BalancePlan:
        hosts, guests = await self._measure(request.window_s)
        policy = Policy(pins=request.policy.pins,
                        apart=tuple(frozenset(group) for group in request.policy.apart))
        forbidden: set[tuple[str, str]] = set()
        refused: list[str] = []
        for _ in range(MAX_PLANNING_ROUNDS):
            balance = plan_moves(hosts, guests, request.goal, request.max_moves, policy,
                                 frozenset(forbidden))
            plans = await self._validate(balance.moves, forbidden, refused)
            if len(plans) == len(balance.moves):
                break
        else:
            balance = plan_moves(hosts, guests, request.goal, 0, policy)
            plans = {}
        moves = []
        for move in balance.moves:
            plan = plans[move]
            warnings = tuple(f for f in plan.findings if f.severity == Severity.WARNING)
            planned = BalanceMove(partition=move.partition, source=move.source,
                                  target=move.target, warnings=warnings)
            if not request.dry_run:
                try:
                    record = await self.engine.submit(plan)
                    planned = planned.model_copy(update={"migration_id": record.id})
                except OpenLpmError as exc:
                    planned = planned.model_copy(update={"reason": f"{exc.code} "
                                                                   f"{exc.message}"})
            moves.append(planned)
        return _plan(request, balance, tuple(moves), tuple(refused))

    async def _measure(self, window_s: float) -> tuple[list[Host], list[Guest]]:
        systems = await self.utilization(window_s)
        partitions = await asyncio.gather(
            *(answer(self.site.agent(s.system).partitions()) for s in systems))
        hosts, guests = [], []
        for usage, found in zip(systems, partitions, strict=True):
            if not isinstance(found, list):
                continue
            hosts.append(Host(usage.system, usage.cpus, usage.memory_mb,
                              accepts=not usage.maintenance))
            used = {p.name: p.cpu_cores for p in usage.partitions}
            guests += [_guest(p, usage.system, used.get(p.name, 0.0)) for p in found
                       if p.state == PartitionState.RUNNING]
        return hosts, guests

    async def _validate(self, moves: tuple[Move, ...], forbidden: set[tuple[str, str]],
                        refused: list[str]) -> dict[Move, MigrationPlan]:
        plans = {}
        for move in moves:
            request = MigrationRequest(source=move.source, target=move.target,
                                       partition=move.partition)
            try:
                plan = await plan_migration(self.site, self.board, request, self.console)
            except OpenLpmError as exc:
                first = f"{exc.code} {exc.message}"
            else:
                errors = [f for f in plan.findings if f.severity == Severity.ERROR]
                if not errors:
                    plans[move] = plan
                    continue
                first = f"{errors[0].code} {errors[0].message}"
            forbidden.add((move.partition, move.target))
            refused.append(f"{move.partition} to {move.target}: {first}")
        return plans


def _guest(partition: Partition, system: str, cpu_cores: float) -> Guest:
    profile = partition.profile
    return Guest(name=partition.name, system=system, cpu_cores=cpu_cores,
                 procs=profile.desired_procs, memory_mb=profile.desired_mem,
                 movable=not profile.migration_disabled)


def _plan(request: BalanceRequest, balance: Balance, moves: tuple[BalanceMove, ...],
            refused: tuple[str, ...]) -> BalancePlan:
    return BalancePlan(
        goal=request.goal, window_s=request.window_s, spread_before=balance.spread_before,
        spread_after=balance.spread_after, moves=moves, refused=refused,
        systems=tuple(SystemLoad(system=name, before=load,
                                 after=balance.loads_after[name])
                      for name, load in sorted(balance.loads_before.items())))
