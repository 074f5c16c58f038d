"""Validation of a migration (``migrlpar -o v``), and the plan ``-o m`` executes.

Naming errors (unknown system or partition, source equal to target) are raised at once:
there is nothing to validate. Every other check runs and reports a finding, so the user
sees every problem in one pass. Checks only read; nothing changes on any system.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from openlpm.errors import OpenLpmError, RequestInvalid, ValidationFailed
from openlpm.hmc.board import MigrationBoard
from openlpm.hmc.site import Site
from openlpm.model import (
    Finding,
    MigrationKind,
    MigrationRequest,
    MoverInfo,
    Partition,
    PartitionState,
    Severity,
    SystemInfo,
    ValidationReport,
)


@dataclass(frozen=True)
class MigrationPlan:
    """Everything validation learnt that the migration needs."""

    request: MigrationRequest
    partition: Partition
    kind: MigrationKind | None
    source: SystemInfo
    target: SystemInfo | None
    findings: tuple[Finding, ...]

    @property
    def report(self) -> ValidationReport:
        return ValidationReport(partition=self.partition.name, source=self.request.source,
                                target=self.request.target, kind=self.kind,
                                findings=self.findings)

    def mover(self, system: SystemInfo, wanted: str | None) -> MoverInfo:
        return next(m for m in system.movers if wanted in (None, m.name))


def error(code: str, obj: str, message: str) -> Finding:
    return Finding(severity=Severity.ERROR, code=code, object=obj, message=message)


def warning(code: str, obj: str, message: str) -> Finding:
    return Finding(severity=Severity.WARNING, code=code, object=obj, message=message)


async def plan_migration(site: Site, board: MigrationBoard,
                         request: MigrationRequest) -> MigrationPlan:
    """Resolve the request and run every check; raises only for unknown names."""
    if request.partition is None and request.lpar_id is None:
        raise RequestInvalid("Name the partition with -p NAME or --id ID.", code="HSCLF181")
    site.inventory.system(request.source)
    site.inventory.system(request.target)
    if request.source == request.target:
        raise RequestInvalid(
            f"The source and target managed systems are both {request.source}. "
            f"Give a different target with -t.", code="HSCLF182")
    source = await site.agent(request.source).system()
    partition = await site.partition(request.source, request.partition, request.lpar_id)
    target: SystemInfo | None
    try:
        target = await site.agent(request.target).system()
        target_partitions = await site.agent(request.target).partitions()
    except OpenLpmError as exc:
        target, target_partitions = None, []
        unreachable = error("HSCLF183", request.target,
                            f"Managed system {request.target} cannot be reached: {exc.message}")
    kind = migration_kind(partition)
    findings = list(_partition_checks(partition, kind, board))
    if target is None:
        findings.append(unreachable)
    else:
        findings += _target_checks(request, partition, kind, source, target, target_partitions)
    return MigrationPlan(request=request, partition=partition, kind=kind, source=source,
                         target=target, findings=tuple(findings))


def migration_kind(partition: Partition) -> MigrationKind | None:
    if partition.state == PartitionState.RUNNING:
        return MigrationKind.ACTIVE
    if partition.state == PartitionState.NOT_ACTIVATED and partition.activated_once:
        return MigrationKind.INACTIVE
    return None


def _partition_checks(partition: Partition, kind: MigrationKind | None,
                      board: MigrationBoard) -> Iterator[Finding]:
    name = partition.name
    if any(m.partition == name for m in board.in_flight()):
        yield error("HSCLF184", name, f"Partition {name} is already migrating. Wait for that "
                    f"migration to end.")
    elif kind is None and partition.state == PartitionState.NOT_ACTIVATED:
        yield error("HSCLF185", name, f"Partition {name} has never been activated, so it has "
                    f"no last-activated profile to migrate. Activate it once first.")
    elif kind is None:
        yield error("HSCLF186", name, f"Partition {name} is {partition.state.value}; only a "
                    f"Running or a Not Activated partition can migrate.")


def _target_checks(request: MigrationRequest, partition: Partition, kind: MigrationKind | None,
                   source: SystemInfo, target: SystemInfo,
                   target_partitions: list[Partition]) -> Iterator[Finding]:
    profile = partition.profile
    if any(p.name == partition.name for p in target_partitions):
        yield error("HSCLF187", target.name, f"Managed system {target.name} already has a "
                    f"partition named {partition.name}. Rename or remove one of them.")
    if request.dest_lpar_id is not None and any(
            p.lpar_id == request.dest_lpar_id for p in target_partitions):
        yield error("HSCLF188", target.name, f"Partition id {request.dest_lpar_id} is already "
                    f"used on {target.name}. Choose a free dest_lpar_id or leave it out.")
    active = kind == MigrationKind.ACTIVE
    yield from _capacity(target, partition, "MB of memory", target.free_memory_mb,
                         profile.desired_mem, active, ("HSCLF189", "HSCLF190"))
    yield from _capacity(target, partition, "processors", target.free_cpus,
                         profile.desired_procs, active, ("HSCLF191", "HSCLF192"))
    if kind == MigrationKind.ACTIVE:
        yield from _mover_checks(request, source, target)
        if source.accel != target.accel:
            yield error("HSCLF193", target.name, f"{source.name} runs partitions with "
                        f"{source.accel} and {target.name} with {target.accel}; a running "
                        f"partition can only move between systems using the same one.")


def _capacity(target: SystemInfo, partition: Partition, unit: str, free: int, needed: int,
              active: bool, codes: tuple[str, str]) -> Iterator[Finding]:
    """Short of a resource: an error for a running partition, a warning for an inactive one."""
    if free >= needed:
        return
    what = unit.removeprefix("MB of ")
    message = (f"Managed system {target.name} has {free} {unit} available; partition "
               f"{partition.name} needs {needed} {unit.removesuffix(' of memory')}.")
    if active:
        yield error(codes[0], target.name, f"{message} Free {what} on the target or choose "
                    f"another one.")
    else:
        yield warning(codes[1], target.name, f"{message} It will not activate there until "
                      f"the target has enough {what} free.")


def _mover_checks(request: MigrationRequest, source: SystemInfo,
                  target: SystemInfo) -> Iterator[Finding]:
    for system, wanted, flag in ((source, request.source_msp_name, "source_msp_name"),
                                 (target, request.dest_msp_name, "dest_msp_name")):
        names = [m.name for m in system.movers]
        if not names:
            yield error("HSCLF194", system.name, f"Managed system {system.name} has no mover "
                        f"service running; an active migration needs one on each side.")
        elif wanted is not None and wanted not in names:
            yield error("HSCLF195", system.name, f"{flag}={wanted} is not a mover service of "
                        f"{system.name}; it has: {', '.join(names)}.")


def require_passed(plan: MigrationPlan) -> None:
    if not plan.report.passed:
        errors = [f for f in plan.findings if f.severity == Severity.ERROR]
        raise ValidationFailed(
            f"Validation of the migration of {plan.partition.name} from {plan.source.name} to "
            f"{plan.request.target} found {len(errors)} error(s); nothing was changed.",
            code=errors[0].code,
            details={"findings": [f.model_dump(mode="json") for f in plan.findings]})
