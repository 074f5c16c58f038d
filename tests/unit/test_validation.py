"""Validation of a migration (``migrlpar -o v``): every problem found in one read-only pass.

Runs ``plan_migration`` against fake agents (``fakes.py``) with a real SQLite inventory
and a real migration board.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from openlpm.authority import CertificateAuthority
from openlpm.errors import (
    ObjectNotFound,
    RequestInvalid,
    SystemUnreachable,
    ValidationFailed,
)
from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.mobility.checks import CHECKS
from openlpm.hmc.mobility.validate import MigrationPlan, plan_migration, require_passed
from openlpm.hmc.stores.inventory import Inventory
from openlpm.model import (
    Finding,
    GuestVerdict,
    MigrationKind,
    MigrationRecord,
    MigrationRequest,
    MigrationState,
    PartitionState,
    Severity,
)
from tests.unit.fakes import FakeAgent, FakeSite, certified, mover_of, profile

S = PartitionState
SOURCE, TARGET, NAME = "sys1", "sys2", "lpar1"
READS = {"system", "partitions", "partition", "cpu_models", "ask_guest"}


@dataclass
class Console:
    inventory: Inventory
    board: MigrationBoard
    site: FakeSite

    async def plan(self, **options: object) -> MigrationPlan:
        request = MigrationRequest.model_validate(
            {"source": SOURCE, "target": TARGET, "partition": NAME, **options})
        return await plan_migration(self.site, self.board, request)


@pytest.fixture
def source() -> FakeAgent:
    agent = FakeAgent(SOURCE)
    agent.add(profile(NAME, mem=2048, procs=2, lpar_id=3), S.RUNNING)
    return agent


@pytest.fixture
def target() -> FakeAgent:
    return FakeAgent(TARGET)


@pytest.fixture
def console(tmp_path: Path, source: FakeAgent, target: FakeAgent) -> Iterator[Console]:
    inventory = Inventory(tmp_path / "hmc.sqlite")
    yield Console(inventory, MigrationBoard(inventory), FakeSite(inventory, [source, target],
                                          CertificateAuthority(tmp_path / "ca", "hmc")))
    inventory.close()


def not_activated(agent: FakeAgent) -> None:
    agent.hosted[NAME].state = S.NOT_ACTIVATED


def codes(plan: MigrationPlan) -> list[str]:
    return [f.code for f in plan.findings]


def only(plan: MigrationPlan) -> Finding:
    [finding] = plan.findings
    return finding


# -- a request that passes ---------------------------------------------------------------


async def test_running_partition_with_room_on_target_passes_as_active(
        console: Console) -> None:
    plan = await console.plan()

    assert plan.kind == MigrationKind.ACTIVE
    assert plan.findings == ()
    assert plan.report.passed
    assert plan.target is not None and plan.target.name == TARGET
    require_passed(plan)


async def test_validation_only_reads_from_both_systems(
        console: Console, source: FakeAgent, target: FakeAgent) -> None:
    target.memory_mb = 512  # a finding, too, changes nothing

    await console.plan()

    assert source.methods_called <= READS
    assert target.methods_called <= READS
    assert source.state_of(NAME) == S.RUNNING
    assert target.hosted == {}


async def test_partition_can_be_named_by_its_id(console: Console) -> None:
    plan = await console.plan(partition=None, lpar_id=3)

    assert plan.partition.name == NAME


# -- naming errors are raised at once ------------------------------------------------------


async def test_request_naming_no_partition_is_invalid(console: Console) -> None:
    with pytest.raises(RequestInvalid) as raised:
        await console.plan(partition=None)
    assert raised.value.code == "HSCLF181"


@pytest.mark.parametrize("side", ["source", "target"])
async def test_unknown_managed_system_is_not_found(console: Console, side: str) -> None:
    with pytest.raises(ObjectNotFound) as raised:
        await console.plan(**{side: "sys9"})
    assert raised.value.code == "HSCLF162"
    assert "sys9" in raised.value.message


async def test_source_equal_to_target_is_invalid(console: Console) -> None:
    with pytest.raises(RequestInvalid) as raised:
        await console.plan(target=SOURCE)
    assert raised.value.code == "HSCLF182"


async def test_unknown_partition_is_not_found(console: Console) -> None:
    with pytest.raises(ObjectNotFound) as raised:
        await console.plan(partition="nosuch")
    assert raised.value.code == "HSCL8012"
    assert "The partition named nosuch was not found" in raised.value.message


# -- the partition ------------------------------------------------------------------------


async def test_partition_that_never_ran_cannot_migrate(console: Console,
                                                       source: FakeAgent) -> None:
    not_activated(source)
    source.hosted[NAME].activated_once = False

    plan = await console.plan()

    assert plan.kind is None
    assert only(plan).code == "HSCLF185"
    assert only(plan).severity == Severity.ERROR
    assert not plan.report.passed


@pytest.mark.parametrize("state", [S.STARTING, S.SHUTTING_DOWN, S.ERROR,
                                   S.MIGRATING_RUNNING])
async def test_partition_in_a_passing_state_cannot_migrate(
        console: Console, source: FakeAgent, state: PartitionState) -> None:
    source.hosted[NAME].state = state

    plan = await console.plan()

    assert plan.kind is None
    assert "HSCLF186" in codes(plan)


async def test_partition_already_migrating_cannot_migrate_again(console: Console) -> None:
    await console.board.publish(MigrationRecord(
        id="m1", partition=NAME, source=SOURCE, target="sys3", kind=MigrationKind.ACTIVE,
        state=MigrationState.IN_PROGRESS, started=time.time()))

    plan = await console.plan()

    assert only(plan).code == "HSCLF184"


async def test_not_activated_partition_that_ran_once_migrates_inactive(
        console: Console, source: FakeAgent) -> None:
    not_activated(source)

    plan = await console.plan()

    assert plan.kind == MigrationKind.INACTIVE
    assert plan.findings == ()


# -- the target ---------------------------------------------------------------------------


async def test_target_with_a_partition_of_that_name_is_an_error(
        console: Console, target: FakeAgent) -> None:
    target.add(profile(NAME, lpar_id=7), S.NOT_ACTIVATED)

    plan = await console.plan()

    assert only(plan).code == "HSCLF187"
    assert only(plan).object == TARGET


async def test_dest_lpar_id_taken_on_the_target_is_an_error(
        console: Console, target: FakeAgent) -> None:
    target.add(profile("other", lpar_id=12), S.NOT_ACTIVATED)

    plan = await console.plan(dest_lpar_id=12)

    assert only(plan).code == "HSCLF188"


async def test_too_little_memory_on_target_is_an_error_for_an_active_migration(
        console: Console, target: FakeAgent) -> None:
    target.memory_mb = 1024

    plan = await console.plan()

    assert only(plan).code == "HSCLF189"
    assert only(plan).severity == Severity.ERROR
    assert not plan.report.passed


async def test_too_little_memory_on_target_is_a_warning_for_an_inactive_migration(
        console: Console, source: FakeAgent, target: FakeAgent) -> None:
    not_activated(source)
    target.memory_mb = 1024

    plan = await console.plan()

    assert only(plan).code == "HSCLF190"
    assert only(plan).severity == Severity.WARNING
    assert plan.report.passed
    require_passed(plan)


async def test_memory_held_by_running_partitions_of_the_target_is_not_available(
        console: Console, target: FakeAgent) -> None:
    target.memory_mb = 4096
    target.add(profile("busy", mem=3072, lpar_id=1), S.RUNNING)

    plan = await console.plan()

    assert codes(plan) == ["HSCLF189"]


async def test_too_few_processors_on_target_is_an_error_when_active_a_warning_when_not(
        console: Console, source: FakeAgent, target: FakeAgent) -> None:
    target.cpus = 1
    active = await console.plan()
    not_activated(source)
    inactive = await console.plan()

    assert (only(active).code, only(active).severity) == ("HSCLF191", Severity.ERROR)
    assert (only(inactive).code, only(inactive).severity) == ("HSCLF192", Severity.WARNING)


async def test_unreachable_target_is_an_error_finding(console: Console,
                                                      target: FakeAgent) -> None:
    target.fail_on["system"] = SystemUnreachable("no answer", code="HSCLF107")

    plan = await console.plan()

    assert plan.target is None
    assert only(plan).code == "HSCLF183"
    assert "no answer" in only(plan).message


# -- mover services and accelerators (active migrations only) ----------------------------


@pytest.mark.parametrize("side", [SOURCE, TARGET])
async def test_system_without_a_mover_is_an_error_for_an_active_migration(
        console: Console, source: FakeAgent, target: FakeAgent, side: str) -> None:
    {SOURCE: source, TARGET: target}[side].movers = ()

    plan = await console.plan()

    assert only(plan).code == "HSCLF194"
    assert only(plan).object == side


async def test_inactive_migration_needs_no_mover(console: Console, source: FakeAgent,
                                                 target: FakeAgent) -> None:
    not_activated(source)
    source.movers = target.movers = ()

    assert (await console.plan()).findings == ()


async def test_named_mover_must_exist_on_its_system(console: Console,
                                                    target: FakeAgent) -> None:
    target.movers = tuple(certified(mover_of(TARGET, name), console.site.authority)
                          for name in ("msp1", "msp2"))

    good = await console.plan(dest_msp_name="msp2")
    bad = await console.plan(dest_msp_name="msp9")

    assert good.findings == ()
    assert good.target is not None
    assert good.target_mover.name == "msp2"
    assert only(bad).code == "HSCLF195"
    assert "msp1, msp2" in only(bad).remedy


async def test_different_accelerators_are_an_error_for_an_active_migration_only(
        console: Console, source: FakeAgent, target: FakeAgent) -> None:
    target.accel = "tcg"
    active = await console.plan()
    not_activated(source)
    inactive = await console.plan()

    assert only(active).code == "HSCLF193"
    assert inactive.findings == ()


# -- every finding at once ---------------------------------------------------------------


async def test_every_error_is_reported_in_one_plan(console: Console,
                                                   target: FakeAgent) -> None:
    target.add(profile(NAME, mem=512, lpar_id=7), S.NOT_ACTIVATED)
    target.memory_mb = 1024

    plan = await console.plan()

    assert sorted(codes(plan)) == ["HSCLF187", "HSCLF189"]
    assert all(f.severity == Severity.ERROR for f in plan.findings)


async def test_errors_of_source_target_and_movers_are_reported_together(
        console: Console, source: FakeAgent, target: FakeAgent) -> None:
    source.movers = target.movers = ()
    target.accel = "tcg"
    target.cpus = 1

    plan = await console.plan()

    assert sorted(codes(plan)) == ["HSCLF191", "HSCLF193", "HSCLF194", "HSCLF194"]
    assert sorted(f.object for f in plan.findings if f.code == "HSCLF194") == [SOURCE, TARGET]


async def test_failed_validation_raises_with_the_first_error_and_every_finding(
        console: Console, source: FakeAgent, target: FakeAgent) -> None:
    target.add(profile(NAME, lpar_id=7), S.NOT_ACTIVATED)
    target.memory_mb = 1024
    plan = await console.plan()

    with pytest.raises(ValidationFailed) as raised:
        require_passed(plan)

    assert raised.value.code == plan.findings[0].code
    assert "2 error(s)" in raised.value.message
    assert [f["code"] for f in raised.value.details["findings"]] == codes(plan)


# -- facts gathered by asking the movers and the guest ---------------------------------


async def test_movers_are_probed_and_an_unreachable_peer_is_an_error(
        console: Console, target: FakeAgent) -> None:
    console.site.cut_off.add(target.movers[0].data_address)

    plan = await console.plan()

    assert only(plan).code == "HSCLF408"
    assert target.movers[0].data_address in only(plan).message


async def test_the_guest_is_asked_and_its_silence_is_only_a_warning(
        console: Console, source: FakeAgent) -> None:
    source.guest = GuestVerdict(answered=False)

    plan = await console.plan()

    assert only(plan).code == "HSCLA246" and plan.report.passed
    assert source.called("ask_guest") == [(NAME,)]


async def test_an_inactive_partition_is_not_asked_and_movers_are_not_probed(
        console: Console, source: FakeAgent) -> None:
    not_activated(source)
    console.site.cut_off.add(source.movers[0].data_address)

    assert (await console.plan()).findings == ()
    assert source.called("ask_guest") == []


async def test_the_report_lists_every_check_that_ran_and_its_time(console: Console) -> None:
    report = (await console.plan()).report

    assert [c.check for c in report.checks] == [c.__name__ for c in CHECKS]
    assert report.elapsed_ms >= 0
