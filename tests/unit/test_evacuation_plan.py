"""Where evacuating a system puts each partition: validation decides who may go where,
free resources decide where each one fits, and partitions spread out."""

from __future__ import annotations

from openlpm.hmc.placement.evacuation import Room, Verdict, evacuation_order, place
from openlpm.model import (
    Finding,
    MigrationKind,
    Partition,
    PartitionState,
    Severity,
    ValidationReport,
)
from tests.unit.fakes import profile


def partition(name: str, mem: int, procs: int = 1, running: bool = True) -> Partition:
    return Partition(profile=profile(name, mem=mem, procs=procs),
                     state=PartitionState.RUNNING if running else PartitionState.NOT_ACTIVATED,
                     activated_once=True)


def report(name: str, target: str, *findings: Finding) -> ValidationReport:
    return ValidationReport(partition=name, source="sys1", target=target,
                            kind=MigrationKind.ACTIVE, findings=findings)


def finding(code: str, severity: Severity = Severity.ERROR) -> Finding:
    return Finding(severity=severity, code=code, object="x", message=f"{code} happened")


def all_pass(partitions: list[Partition], rooms: list[Room]) -> dict[tuple[str, str], Verdict]:
    return {(p.name, r.system): report(p.name, r.system) for p in partitions for r in rooms}


def test_running_partitions_go_first_and_the_largest_of_them_before_the_smaller() -> None:
    ordered = evacuation_order([partition("idle", 4096, running=False),
                                partition("small", 256), partition("big", 2048, procs=1),
                                partition("big2", 2048, procs=4)])
    assert [p.name for p in ordered] == ["big2", "big", "small", "idle"]


def test_partitions_spread_over_the_targets_by_the_memory_left() -> None:
    parts = evacuation_order([partition(f"p{i}", 1024) for i in range(4)])
    rooms = [Room("sys2", 16, 4096), Room("sys3", 16, 4096)]

    placed = place(parts, all_pass(parts, rooms), rooms)

    assert [p.target for p in placed] == ["sys2", "sys3", "sys2", "sys3"]


def test_a_target_is_not_filled_beyond_its_free_memory_by_the_plan_itself() -> None:
    parts = evacuation_order([partition("a", 3000), partition("b", 3000),
                              partition("c", 3000)])
    rooms = [Room("sys2", 16, 4000), Room("sys3", 16, 4000)]

    placed = place(parts, all_pass(parts, rooms), rooms)

    assert [p.target for p in placed] == ["sys2", "sys3", None]
    assert "placed before" in placed[2].reason


def test_free_processors_count_as_well_as_memory() -> None:
    parts = [partition("a", 256, procs=4), partition("b", 256, procs=4)]
    rooms = [Room("sys2", 6, 8192)]
    placed = place(parts, all_pass(parts, rooms), rooms)
    assert [p.target for p in placed] == ["sys2", None]


def test_an_inactive_partition_needs_no_free_resources() -> None:
    parts = [partition("off", 8192, procs=8, running=False)]
    rooms = [Room("sys2", 0, 0)]
    placed = place(parts, all_pass(parts, rooms), rooms)
    assert placed[0].target == "sys2" and placed[0].kind == MigrationKind.INACTIVE


def test_a_partition_no_target_accepts_stays_with_every_target_s_reasons() -> None:
    parts = [partition("local", 512), partition("fine", 512)]
    rooms = [Room("sys2", 16, 8192), Room("sys3", 16, 8192)]
    verdicts = all_pass(parts, rooms)
    verdicts[("local", "sys2")] = report("local", "sys2", finding("HSCLF413"))
    verdicts[("local", "sys3")] = "HSCLF107 the agent of sys3 did not answer"

    placed = place(parts, verdicts, rooms)

    assert placed[0].target is None
    assert "sys2: HSCLF413" in placed[0].reason and "sys3: HSCLF107" in placed[0].reason
    assert placed[1].target == "sys2"


def test_warnings_do_not_stop_a_partition_and_travel_with_its_placement() -> None:
    parts = [partition("p", 512)]
    rooms = [Room("sys2", 16, 8192)]
    warning = finding("HSCLA246", Severity.WARNING)
    placed = place(parts, {("p", "sys2"): report("p", "sys2", warning)}, rooms)
    assert placed[0].target == "sys2" and placed[0].warnings == (warning,)


def test_a_target_only_one_partition_passes_on_is_kept_for_it() -> None:
    """Validation decides per partition: one that only sys3 takes still goes there even
    though sys2 has more room."""
    parts = [partition("picky", 512)]
    rooms = [Room("sys2", 16, 8192), Room("sys3", 16, 1024)]
    verdicts = all_pass(parts, rooms)
    verdicts[("picky", "sys2")] = report("picky", "sys2", finding("HSCLF411"))
    assert place(parts, verdicts, rooms)[0].target == "sys3"


def test_no_other_system_leaves_every_partition_where_it_is() -> None:
    placed = place([partition("p", 512)], {}, [])
    assert placed[0].target is None and "no other managed system" in placed[0].reason
