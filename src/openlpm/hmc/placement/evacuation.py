"""Evacuating a managed system: a place for each of its partitions, then their migrations.

Every partition is validated against every candidate target with the checks of
``migrlpar -o v``; placing them is then a pure function (``place``) of those reports and
the targets' free resources, tested without a lab. Partitions are placed, and moved, in
this order: running ones first (they hold the memory and processors maintenance needs
freed, and take longest), larger memory first, then more processors, then by name. Each
goes to the target that passed validation for it and has the most memory left after the
partitions placed before it, so they spread out instead of filling one target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from openlpm.errors import OpenLpmError, RequestInvalid
from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.mobility.checks.facts import migration_kind
from openlpm.hmc.mobility.migrate import MigrationEngine
from openlpm.hmc.mobility.validate import MigrationPlan, answer, plan_migration
from openlpm.hmc.site.systems import Site
from openlpm.model import (
    EvacuationPlan,
    MigrationKind,
    MigrationRequest,
    Partition,
    Placement,
    Severity,
    SystemInfo,
    ValidationReport,
)


@dataclass(frozen=True)
class Room:
    """What a candidate target has free for running partitions."""

    system: str
    cpus: int
    memory_mb: int


# A validation report of a partition on a target, or why there is none.
Verdict = ValidationReport | str


def evacuation_order(partitions: Iterable[Partition]) -> list[Partition]:
    return sorted(partitions, key=lambda p: (migration_kind(p) != MigrationKind.ACTIVE,
                                             -p.profile.desired_mem,
                                             -p.profile.desired_procs, p.name))


def place(partitions: Sequence[Partition], verdicts: Mapping[tuple[str, str], Verdict],
          rooms: Sequence[Room]) -> tuple[Placement, ...]:
    """A target for each partition, in the given order, or the reasons it has none."""
    left = {room.system: (room.cpus, room.memory_mb) for room in rooms}
    placements = []
    for partition in partitions:
        kind = migration_kind(partition)
        active = kind == MigrationKind.ACTIVE
        cpus = partition.profile.desired_procs if active else 0
        memory = partition.profile.desired_mem if active else 0
        fitting: list[tuple[int, str, ValidationReport]] = []
        refusals = []
        for room in rooms:
            verdict = verdicts[(partition.name, room.system)]
            if isinstance(verdict, str):
                refusals.append(f"{room.system}: {verdict}")
            elif not verdict.passed:
                errors = [f for f in verdict.findings if f.severity == Severity.ERROR]
                refusals.append(f"{room.system}: " + "; ".join(
                    f"{f.code} {f.message}" for f in errors))
            elif left[room.system][0] < cpus or left[room.system][1] < memory:
                refusals.append(f"{room.system}: its free memory or processors go to "
                                f"partitions placed before this one")
            else:
                fitting.append((left[room.system][1] - memory, room.system, verdict))
        base = Placement(partition=partition.name, kind=kind,
                         memory_mb=partition.profile.desired_mem,
                         procs=partition.profile.desired_procs)
        if not fitting:
            placements.append(base.model_copy(update={
                "reason": " | ".join(refusals) or "there is no other managed system"}))
            continue
        # Most memory left wins; among equals, the first target in the given order.
        _, target, report = max(fitting, key=lambda f: f[0])
        left[target] = (left[target][0] - cpus, left[target][1] - memory)
        warnings = tuple(f for f in report.findings if f.severity == Severity.WARNING)
        placements.append(base.model_copy(update={"target": target, "warnings": warnings}))
    return tuple(placements)


class Evacuation:
    """Plans and starts evacuations through the console's migration engine."""

    def __init__(self, engine: MigrationEngine, console: str) -> None:
        self.engine = engine
        self.site: Site = engine.site
        self.board: MigrationBoard = engine.board
        self.console = console

    async def plan(self, system: str, targets: Sequence[str] = ()) -> EvacuationPlan:
        plan, _ = await self._plan(system, targets)
        return plan

    async def run(self, system: str, targets: Sequence[str] = ()) -> EvacuationPlan:
        """Put the system in maintenance, place its partitions and start every migration;
        the console's concurrency limits queue those beyond them, in plan order."""
        self.site.inventory.system(system)
        await self.site.agent(system).set_maintenance(True)
        plan, migrations = await self._plan(system, targets)
        started = []
        for placement in plan.placements:
            if placement.target is not None:
                try:
                    record = await self.engine.submit(migrations[(placement.partition,
                                                                  placement.target)])
                    placement = placement.model_copy(update={"migration_id": record.id})
                except OpenLpmError as exc:
                    placement = placement.model_copy(update={
                        "target": None, "reason": f"{exc.code} {exc.message}"})
            started.append(placement)
        return plan.model_copy(update={"placements": tuple(started)})

    async def _plan(self, system: str, targets: Sequence[str]) -> \
            tuple[EvacuationPlan, dict[tuple[str, str], MigrationPlan]]:
        inventory = self.site.inventory
        inventory.system(system)
        names = list(targets) or [s.name for s in inventory.systems() if s.name != system]
        for name in names:
            inventory.system(name)
            if name == system:
                raise RequestInvalid(f"{system} cannot be a target of its own evacuation.",
                                     code="HSCLF197")
        partitions = evacuation_order(await self.site.agent(system).partitions())
        infos = await asyncio.gather(*(answer(self.site.agent(n).system()) for n in names))
        plans: dict[tuple[str, str], MigrationPlan] = {}
        verdicts: dict[tuple[str, str], Verdict] = {}
        rooms, reachable = [], []
        for name, info in zip(names, infos, strict=True):
            if isinstance(info, SystemInfo):
                rooms.append(Room(name, info.free_cpus, info.free_memory_mb))
                reachable.append(name)
            else:
                rooms.append(Room(name, 0, 0))
                verdicts.update({(p.name, name): f"{info.code} {info.message}"
                                 for p in partitions})

        async def validate(partition: Partition) -> None:
            # One target after the other: the guest's mobility hook answers one question
            # at a time.
            for target in reachable:
                request = MigrationRequest(source=system, target=target,
                                           partition=partition.name)
                try:
                    migration = await plan_migration(self.site, self.board, request,
                                                     self.console)
                except OpenLpmError as exc:
                    verdicts[(partition.name, target)] = f"{exc.code} {exc.message}"
                    continue
                plans[(partition.name, target)] = migration
                verdicts[(partition.name, target)] = migration.report

        await asyncio.gather(*(validate(p) for p in partitions))
        placements = place(partitions, verdicts, rooms)
        return EvacuationPlan(system=system, targets=tuple(names),
                              placements=placements), plans
