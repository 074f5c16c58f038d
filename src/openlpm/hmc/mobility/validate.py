"""Validation of a migration (``migrlpar -o v``), and the plan ``-o m`` executes.

Naming errors (unknown system or partition, source equal to target, a remote console
this one holds no keys for) are raised at once: there is nothing to validate. Everything
else is first gathered (``gather_facts``, all questions to agents and movers asked at
once), then every check of ``checks.CHECKS`` runs, so the user sees every problem in
one pass. Nothing changes on any system.

When ``--ip`` names another console, that console gathers the facts of its target and
runs the target's checks (``check_incoming``, answering ``POST /peer/validations``);
this one runs the others, and the plan holds both sides' findings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from typing import TypeVar

from openlpm.errors import (
    ObjectNotFound,
    OpenLpmError,
    RequestInvalid,
    ValidationFailed,
)
from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.mobility.checks import CHECKS, TARGET_CHECKS, run_checks
from openlpm.hmc.mobility.checks.facts import MigrationFacts
from openlpm.hmc.site.remote import errors_from
from openlpm.hmc.site.systems import Site
from openlpm.model import (
    CheckResult,
    CpuModel,
    Finding,
    GuestVerdict,
    IncomingValidation,
    IncomingValidationReport,
    MigrationKind,
    MigrationRequest,
    MoverInfo,
    MoverProbe,
    Partition,
    RemoteConsole,
    Severity,
    StorageSeen,
    SystemInfo,
    ValidationReport,
)

T = TypeVar("T")
# In CHECKS' order: the checks this console runs when another manages the target, and
# the ones it runs for another console's migration to one of its systems.
SOURCE_CHECKS = tuple(check for check in CHECKS if check not in TARGET_CHECKS)
TARGET_SIDE_CHECKS = tuple(check for check in CHECKS if check in TARGET_CHECKS)
SAN_QUESTION_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class MigrationPlan:
    """Everything validation learnt that the migration needs."""

    facts: MigrationFacts
    findings: tuple[Finding, ...]
    checks: tuple[CheckResult, ...] = ()
    elapsed_ms: float = 0.0
    # The console that manages the target, when it is not this one.
    remote: RemoteConsole | None = None

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
    """Resolve the request and run every check; raises only for unknown names (and for
    a remote console that cannot be asked)."""
    started = time.perf_counter()
    remote = remote_console(site, request.remote_hmc, request.remote_user, console)
    if remote is None:
        facts = await gather_facts(site, board, request, console)
        findings, results = run_checks(facts)
    else:
        facts, theirs = await gather_remote_facts(site, board, request, console, remote)
        findings, results = run_checks(facts, SOURCE_CHECKS)
        findings += theirs.findings
        results += theirs.checks
    return MigrationPlan(facts=facts, findings=tuple(findings), checks=tuple(results),
                         elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
                         remote=remote)


def remote_console(site: Site, ip: str | None, user: str | None, console: str) -> \
        RemoteConsole | None:
    """The console ``--ip`` names when it is another one, with the keys for ``-u``.

    Raises as ``keys_for`` does.
    """
    if ip is None or ip == console:
        if user is not None and ip is None:
            raise RequestInvalid("-u names a user of the remote console that --ip names; "
                                 "give --ip too, or leave -u out.", code="HSCLF523")
        return None
    return keys_for(site, ip, user)


def keys_for(site: Site, ip: str, user: str | None) -> RemoteConsole:
    """The keys this console holds for ``user`` of console ``ip`` (for its only user when
    ``user`` is None).

    Raises ObjectNotFound when it holds none, RequestInvalid when ``user`` is None and it
    holds keys for several.
    """
    known = site.consoles.find(ip, None) if site.consoles else []
    if not known:
        raise ObjectNotFound(
            f"This console has not exchanged keys with console {ip}, so it cannot act "
            f"there. Exchange them first: 'mkauthkeys --ip {ip} -u USER' (a user of {ip} "
            f"whose role there may migrate).", code="HSCLF520")
    users = sorted({r.user for r in known})
    mine = [r for r in known if user in (None, r.user)]
    if user is None and len(users) > 1:
        raise RequestInvalid(f"This console holds keys for several users of console {ip} "
                             f"({', '.join(users)}): name one with -u.", code="HSCLF523")
    if not mine:
        raise ObjectNotFound(
            f"This console holds no keys for user {user} of console {ip} (it holds keys "
            f"for {', '.join(users)}). Exchange them with 'mkauthkeys --ip {ip} -u {user}', "
            f"or give -u one of those.", code="HSCLF521")
    return mine[0]


async def gather_remote_facts(site: Site, board: MigrationBoard, request: MigrationRequest,
                              console: str, remote: RemoteConsole) -> \
        tuple[MigrationFacts, IncomingValidationReport]:
    """The source's facts from here, the target's from the console that manages it,
    which also runs the target's checks."""
    _require_partition_named(request)
    site.inventory.system(request.source)
    source, partition = await asyncio.gather(
        site.agent(request.source).system(),
        site.partition(request.source, request.partition, request.lpar_id))
    with errors_from(remote):
        report = await site.remote(remote).validate(IncomingValidation(
            request=request, partition=partition, source=source))
    facts = MigrationFacts(
        request=request, console=console, partition=partition, source=source,
        target=report.target, target_error=report.target_error,
        in_flight=tuple(board.in_flight()), authorities=site.trusted_authorities(),
        san_url=site.san_url)
    if facts.active:
        probe, guest = await asyncio.gather(_probe(site, facts), _ask_guest(site, facts))
        facts = replace(facts, mover_probe=probe, guest=guest)
    return facts, report


async def check_incoming(site: Site, board: MigrationBoard, incoming: IncomingValidation,
                         console: str) -> IncomingValidationReport:
    """A remote console's validation of a migration to one of this console's systems:
    the facts of the target from its agent, the target's checks run here."""
    request = incoming.request
    site.inventory.system(request.target)
    facts = _facts(site, board, request, console, incoming.partition, incoming.source,
                   await _ask_target(site, request.target))
    facts = await _with_storage(site, facts)
    findings, results = run_checks(facts, TARGET_SIDE_CHECKS)
    return IncomingValidationReport(
        console=console, target=facts.target, target_error=facts.target_error,
        findings=tuple(f.model_copy(update={"console": console}) for f in findings),
        checks=tuple(r.model_copy(update={"console": console}) for r in results))


TargetAnswers = tuple[SystemInfo | OpenLpmError, list[Partition] | OpenLpmError,
                      list[CpuModel] | OpenLpmError]


async def _ask_target(site: Site, system: str) -> TargetAnswers:
    """What the target's agent says of itself, its partitions and its CPU models, or
    why it could not say (itself a finding)."""
    agent = site.agent(system)
    return await asyncio.gather(answer(agent.system()), answer(agent.partitions()),
                                answer(agent.cpu_models()))


def _facts(site: Site, board: MigrationBoard, request: MigrationRequest, console: str,
           partition: Partition, source: SystemInfo, answers: TargetAnswers) -> \
        MigrationFacts:
    target, target_partitions, models = answers
    return MigrationFacts(
        request=request, console=console, partition=partition, source=source,
        target=target if isinstance(target, SystemInfo) else None,
        target_error=target.message if isinstance(target, OpenLpmError) else None,
        target_partitions=tuple(target_partitions) if isinstance(target_partitions, list)
        else (),
        in_flight=tuple(board.in_flight()),
        target_cpu_models=tuple(models) if isinstance(models, list) else None,
        authorities=site.trusted_authorities(), san_url=site.san_url)


def _require_partition_named(request: MigrationRequest) -> None:
    if request.partition is None and request.lpar_id is None:
        raise RequestInvalid("Name the partition with -p NAME or --id ID.", code="HSCLF181")


async def gather_facts(site: Site, board: MigrationBoard, request: MigrationRequest,
                       console: str) -> MigrationFacts:
    _require_partition_named(request)
    site.inventory.system(request.source)
    site.inventory.system(request.target)
    if request.source == request.target:
        raise RequestInvalid(
            f"The source and target managed systems are both {request.source}. "
            f"Give a different target with -t.", code="HSCLF182")
    source, partition, target = await asyncio.gather(
        site.agent(request.source).system(),
        site.partition(request.source, request.partition, request.lpar_id),
        _ask_target(site, request.target))
    facts = _facts(site, board, request, console, partition, source, target)
    if not facts.active:
        return await _with_storage(site, facts)
    with_storage, probe, guest = await asyncio.gather(
        _with_storage(site, facts), _probe(site, facts), _ask_guest(site, facts))
    return replace(with_storage, mover_probe=probe, guest=guest)


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


async def _with_storage(site: Site, facts: MigrationFacts) -> MigrationFacts:
    san, storage = await asyncio.gather(_san_error(site, facts), _target_storage(site, facts))
    return replace(facts, san_error=san,
                   target_storage_error=storage.message
                   if isinstance(storage, OpenLpmError) else None,
                   target_lost_paths=storage.lost_paths
                   if isinstance(storage, StorageSeen) else ())


async def _target_storage(site: Site, facts: MigrationFacts) -> StorageSeen | OpenLpmError:
    """What the target opens of the partition's vSCSI LUNs, through the I/O services
    its adapters would use there, or why it cannot. NPIV LUNs are mapped to the
    target's WWPN only by step 2; the target's SAN is checked then."""
    profile = facts.partition.profile
    if facts.target is None or not profile.virtual_scsi_adapters:
        return StorageSeen(luns=())
    return await answer(site.agent(facts.target.name).check_storage(
        facts.request.placed(profile, facts.target.io_services).model_copy(
            update={"virtual_fc_adapters": ()})))


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
