"""Validation of a migration (``migrlpar -o v``), and the plan ``-o m`` executes.

Naming errors (unknown system or partition, source equal to target) are raised at once:
there is nothing to validate. Everything else is first gathered (``gather_facts``, all
questions to agents and movers asked at once), then every check of ``checks.CHECKS``
runs, so the user sees every problem in one pass. Nothing changes on any system.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import TypeVar

from openlpm.errors import OpenLpmError, RequestInvalid, ValidationFailed
from openlpm.hmc.board import MigrationBoard
from openlpm.hmc.checks import CHECKS, describe
from openlpm.hmc.checks.facts import MigrationFacts
from openlpm.hmc.site import Site
from openlpm.model import (
    CheckResult,
    Finding,
    GuestVerdict,
    MigrationKind,
    MigrationRequest,
    MoverInfo,
    MoverProbe,
    Partition,
    Severity,
    SystemInfo,
    ValidationReport,
)

T = TypeVar("T")
SAN_QUESTION_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class MigrationPlan:
    """Everything validation learnt that the migration needs."""

    facts: MigrationFacts
    findings: tuple[Finding, ...]
    checks: tuple[CheckResult, ...] = ()
    elapsed_ms: float = 0.0

    @property
    def request(self) -> MigrationRequest:
        return self.facts.request

    @property
    def partition(self) -> Partition:
        return self.facts.partition

    @property
    def kind(self) -> MigrationKind | None:
        return self.facts.kind

    @property
    def source(self) -> SystemInfo:
        return self.facts.source

    @property
    def target(self) -> SystemInfo | None:
        return self.facts.target

    @property
    def report(self) -> ValidationReport:
        return ValidationReport(partition=self.partition.name, source=self.request.source,
                                target=self.request.target, kind=self.kind,
                                findings=self.findings, checks=self.checks,
                                elapsed_ms=self.elapsed_ms)

    @property
    def source_mover(self) -> MoverInfo:
        chosen = self.facts.source_mover()
        assert chosen is not None, "validation passed, so the mover exists"
        return chosen

    @property
    def target_mover(self) -> MoverInfo:
        chosen = self.facts.target_mover()
        assert chosen is not None, "validation passed, so the mover exists"
        return chosen


async def plan_migration(site: Site, board: MigrationBoard, request: MigrationRequest,
                         console: str = "") -> MigrationPlan:
    """Resolve the request and run every check; raises only for unknown names."""
    started = time.perf_counter()
    facts = await gather_facts(site, board, request, console)
    findings: list[Finding] = []
    results = []
    for check in CHECKS:
        found = list(check(facts))
        findings += found
        results.append(CheckResult(check=check.__name__, description=describe(check),
                                   found=len(found)))
    return MigrationPlan(facts=facts, findings=tuple(findings), checks=tuple(results),
                         elapsed_ms=round((time.perf_counter() - started) * 1000, 1))


async def gather_facts(site: Site, board: MigrationBoard, request: MigrationRequest,
                       console: str) -> MigrationFacts:
    if request.partition is None and request.lpar_id is None:
        raise RequestInvalid("Name the partition with -p NAME or --id ID.", code="HSCLF181")
    site.inventory.system(request.source)
    site.inventory.system(request.target)
    if request.source == request.target:
        raise RequestInvalid(
            f"The source and target managed systems are both {request.source}. "
            f"Give a different target with -t.", code="HSCLF182")
    source_agent, target_agent = site.agent(request.source), site.agent(request.target)
    source, partition, target, target_partitions, models = await asyncio.gather(
        source_agent.system(),
        site.partition(request.source, request.partition, request.lpar_id),
        answer(target_agent.system()),
        answer(target_agent.partitions()),
        answer(target_agent.cpu_models()))
    facts = MigrationFacts(
        request=request, console=console, partition=partition, source=source,
        target=target if isinstance(target, SystemInfo) else None,
        target_error=target.message if isinstance(target, OpenLpmError) else None,
        target_partitions=tuple(target_partitions) if isinstance(target_partitions, list)
        else (),
        in_flight=tuple(board.in_flight()),
        target_cpu_models=tuple(models) if isinstance(models, list) else None,
        authority=site.authority.fingerprint, san_url=site.san_url)
    if not facts.active:
        san, storage = await asyncio.gather(_san_error(site, facts),
                                            _target_storage(site, facts))
        return replace(facts, san_error=san, target_storage_error=storage)
    san, storage, probe, guest = await asyncio.gather(
        _san_error(site, facts), _target_storage(site, facts), _probe(site, facts),
        _ask_guest(site, facts))
    return replace(facts, san_error=san, target_storage_error=storage, mover_probe=probe,
                   guest=guest)


async def answer(call: Awaitable[T]) -> T | OpenLpmError:
    """The answer, or the error a target that cannot be asked gave (itself a finding)."""
    try:
        return await call
    except OpenLpmError as exc:
        return exc


async def _probe(site: Site, facts: MigrationFacts) -> MoverProbe | None:
    source, target = facts.source_mover(), facts.target_mover()
    if source is None or target is None:
        return None
    try:
        return await site.mover(source.control_url).probe(target.data_address,
                                                          facts.encrypted)
    except OpenLpmError as exc:
        return MoverProbe(peer=target.data_address, reachable=False, error=exc.message)


async def _san_error(site: Site, facts: MigrationFacts) -> str | None:
    """Why the SAN does not answer, for a partition with SAN storage."""
    profile = facts.partition.profile
    if site.san_url is None or not (profile.virtual_fc_adapters
                                    or profile.virtual_scsi_adapters):
        return None
    found = await answer(site.san.luns(timeout=SAN_QUESTION_TIMEOUT_S))
    return found.message if isinstance(found, OpenLpmError) else None


async def _target_storage(site: Site, facts: MigrationFacts) -> str | None:
    """Why the target cannot open the partition's vSCSI LUNs, if it cannot. NPIV LUNs
    are mapped to the target's WWPN only by step 2; the target's SAN is checked then."""
    profile = facts.partition.profile
    if facts.target is None or not profile.virtual_scsi_adapters:
        return None
    seen = await answer(site.agent(facts.target.name).check_storage(
        profile.model_copy(update={"virtual_fc_adapters": ()})))
    return seen.message if isinstance(seen, OpenLpmError) else None


async def _ask_guest(site: Site, facts: MigrationFacts) -> GuestVerdict:
    verdict = await answer(site.agent(facts.source.name).ask_guest(facts.name))
    return verdict if isinstance(verdict, GuestVerdict) else GuestVerdict(answered=False)


def require_passed(plan: MigrationPlan) -> None:
    if not plan.report.passed:
        errors = [f for f in plan.findings if f.severity == Severity.ERROR]
        raise ValidationFailed(
            f"Validation of the migration of {plan.partition.name} from {plan.source.name} to "
            f"{plan.request.target} found {len(errors)} error(s); nothing was changed.",
            code=errors[0].code,
            details={"findings": [f.model_dump(mode="json") for f in plan.findings]})
