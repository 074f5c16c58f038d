"""The migration orchestrator: seven journalled steps, undone on failure until commit.

Runs ``MigrationJob`` on plans made by the real validation, against fake agents and
movers (``fakes.py``), a real SQLite inventory and a real migration board.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from openlpm.authority import CertificateAuthority
from openlpm.errors import (
    HypervisorError,
    InsufficientResources,
    OpenLpmError,
    SystemUnreachable,
    WrongState,
)
from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.mobility.migrate import MigrationEngine, MigrationJob
from openlpm.hmc.mobility.validate import MigrationPlan, plan_migration, require_passed
from openlpm.hmc.stores.inventory import Inventory
from openlpm.model import (
    JournalEntry,
    MigrationRecord,
    MigrationRequest,
    MigrationState,
    MigrationStep,
    PartitionState,
)
from tests.unit.fakes import (
    FakeAgent,
    FakeMover,
    FakeSite,
    Scripted,
    completing_stream,
    failing_stream,
    install_movers,
    profile,
    stalled_stream,
)

Step = MigrationStep
S = PartitionState
SOURCE, TARGET, NAME = "sys1", "sys2", "lpar1"
SOURCE_CONSOLE = ["Linux version 6.8", "lpar1 login:"]

REMOVE_TARGET = "remove the profile from the target"
CLOSE_TARGET_CHANNEL = "close the target mover channel"
CLOSE_SOURCE_CHANNEL = "close the source mover channel"
CANCEL_STREAM = "cancel the stream; the partition resumes on the source"
UNMARK_SOURCE = "mark the partition not migrating on the source"


@dataclass
class Lab:
    """A console with two managed systems, sys1 running lpar1, and a mover on each."""

    inventory: Inventory
    board: MigrationBoard
    site: FakeSite
    source: FakeAgent
    target: FakeAgent
    movers: dict[str, FakeMover]

    @property
    def source_mover(self) -> FakeMover:
        return self.movers[self.source.movers[0].control_url]

    @property
    def target_mover(self) -> FakeMover:
        return self.movers[self.target.movers[0].control_url]

    def fake(self, which: str) -> Scripted:
        """The fake named "source", "target", "source mover" or "target mover"."""
        return {"source": self.source, "target": self.target,
                "source mover": self.source_mover, "target mover": self.target_mover}[which]

    async def plan(self, **options: object) -> MigrationPlan:
        request = MigrationRequest.model_validate(
            {"source": SOURCE, "target": TARGET, "partition": NAME, **options})
        plan = await plan_migration(self.site, self.board, request)
        require_passed(plan)
        return plan

    async def job(self, **options: object) -> MigrationJob:
        job = MigrationJob(await self.plan(**options), self.site, self.board)
        await self.board.publish(job.record)  # as the engine does before running it
        return job

    async def migrate(self, **options: object) -> MigrationRecord:
        return await (await self.job(**options)).run()

    def journal(self, record: MigrationRecord) -> list[JournalEntry]:
        return self.inventory.journal_of(record.id)

    def phases(self, record: MigrationRecord, phase: str) -> list[str]:
        return [e.detail for e in self.journal(record) if e.phase == phase]


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    source, target = FakeAgent(SOURCE), FakeAgent(TARGET)
    source.add(profile(NAME, mem=2048, procs=2, lpar_id=3), S.RUNNING, console=SOURCE_CONSOLE)
    inventory = Inventory(tmp_path / "hmc.sqlite")
    movers = install_movers(monkeypatch, [source, target])
    yield Lab(inventory, MigrationBoard(inventory), FakeSite(inventory, [source, target],
                                          CertificateAuthority(tmp_path / "ca", "hmc")),
              source, target, movers)
    inventory.close()


def steps_begun_and_done(entries: list[JournalEntry]) -> list[tuple[int, str]]:
    return [(int(e.step or 0), e.phase) for e in entries if e.phase in ("begin", "done")]


def each_begun_and_done(*steps: MigrationStep) -> list[tuple[int, str]]:
    return [(int(step), phase) for step in steps for phase in ("begin", "done")]


async def watch_while(lab: Lab, job: MigrationJob) -> list[MigrationRecord]:
    """Run the job and return every record a watcher of the board saw meanwhile."""
    seen: list[MigrationRecord] = []

    async def collect() -> None:
        async for record in lab.board.watch(job.record.id):
            seen.append(record)

    watcher = asyncio.create_task(collect())
    await asyncio.sleep(0)  # the watcher takes the first record before the job starts
    await job.run()
    await asyncio.wait_for(watcher, 1.0)
    return seen


async def until_streaming(lab: Lab, migration_id: str) -> None:
    async for record in lab.board.watch(migration_id):
        if record.step == Step.MIGRATE and record.bytes_transmitted > 0:
            return


# -- an active migration ---------------------------------------------------------------


async def test_active_migration_runs_the_seven_steps_in_order(lab: Lab) -> None:
    record = await lab.migrate()

    assert record.state == MigrationState.COMPLETE
    assert steps_begun_and_done(lab.journal(record)) == each_begun_and_done(*Step)
    assert not lab.phases(record, "failed")


async def test_active_migration_is_kept_complete_in_the_inventory(lab: Lab) -> None:
    record = await lab.migrate()

    kept = lab.inventory.migration(record.id)
    assert kept.state == MigrationState.COMPLETE
    assert kept.ended is not None
    assert kept.error_code is None
    assert lab.board.in_flight() == []


async def test_active_migration_leaves_the_partition_running_only_on_the_target(
        lab: Lab) -> None:
    before = lab.source.hosted[NAME].profile

    await lab.migrate()

    assert NAME not in lab.source.hosted
    assert lab.target.state_of(NAME) == S.RUNNING
    assert lab.target.hosted[NAME].profile == before


async def test_active_migration_merges_the_console_history_to_the_target(lab: Lab) -> None:
    history = list(lab.source.hosted[NAME].console)

    await lab.migrate()

    assert [line.text for line in history] == SOURCE_CONSOLE
    assert lab.target.hosted[NAME].console == history


async def test_active_migration_closes_its_mover_channels(lab: Lab) -> None:
    record = await lab.migrate()

    assert [args[0] for args in lab.target_mover.called("expect")] == [record.id]
    assert [args[0] for args in lab.source_mover.called("open")] == [record.id]
    for mover in (lab.source_mover, lab.target_mover):
        assert mover.called("close_channel") == [(record.id,)]
        assert mover.channels == {}
        assert not mover.client_closed  # kept open for the next migration through it


async def test_migrations_through_a_mover_share_its_client(lab: Lab) -> None:
    await lab.migrate()
    built = {url: mover.clients_built for url, mover in lab.movers.items()}
    back = await MigrationJob(await lab.plan(source=TARGET, target=SOURCE), lab.site,
                              lab.board).run()

    assert back.state == MigrationState.COMPLETE
    assert {url: mover.clients_built for url, mover in lab.movers.items()} == built


async def test_stream_goes_from_source_qemu_through_both_movers_to_target_qemu(
        lab: Lab) -> None:
    job = await lab.job()
    await job.run()

    [(mid, target_token, partition, encrypted)] = lab.target_mover.called("expect")
    [(mid2, source_token, peer, encrypted2)] = lab.source_mover.called("open")
    [(name, uri)] = lab.source.called("start_outgoing")
    assert mid == mid2 == job.record.id
    assert target_token == source_token == job.token
    assert partition == NAME
    assert NAME in lab.target.incoming_uris
    assert peer == lab.target.movers[0].data_address
    assert (name, uri) == (NAME, lab.source_mover.local_uris[mid])
    assert encrypted and encrypted2 and job.record.encrypted


async def test_step_1_asks_the_target_agent_once_and_keeps_the_partition_s_id_if_free(
        lab: Lab) -> None:
    job = await lab.job()
    lab.target.calls.clear()

    record = await job.run()

    asked = [name for name, _ in lab.target.calls if name in ("create", "partitions",
                                                                "partition")]
    assert asked == ["create"]
    assert record.dest_lpar_id == 3


async def test_record_names_the_movers_and_keeps_the_counters_of_the_completed_stream(
        lab: Lab) -> None:
    record = await lab.migrate()

    final = completing_stream()[-1]
    assert (record.source_msp_name, record.dest_msp_name) == ("msp1", "msp1")
    assert record.bytes_transmitted == final.transferred
    assert record.bytes_remaining == 0
    assert record.qemu_downtime_ms == final.downtime_ms
    assert record.dest_lpar_id == 3


async def test_downtime_is_the_guest_s_pause_from_source_stop_to_target_resume(
        lab: Lab) -> None:
    # The hosts' clocks disagree by 8 s; the guest really pauses for at least 0.2 s.
    lab.source.clock_offset_s, lab.target.clock_offset_s = -5.0, 3.0
    lab.target.resume_delay_s = 0.2

    record = await lab.migrate()

    assert 200 <= (record.downtime_ms or 0) < 1000
    assert record.qemu_downtime_ms == completing_stream()[-1].downtime_ms
    [paused] = lab.phases(record, "paused")
    assert "ms (±" in paused and "QEMU measured 42 ms on sys1" in paused


async def test_downtime_stays_qemu_s_figure_when_a_clock_cannot_be_read(lab: Lab) -> None:
    lab.target.fail_on["clock"] = SystemUnreachable("Agent of sys2 did not answer.")

    record = await lab.migrate()

    assert record.state == MigrationState.COMPLETE
    assert record.downtime_ms == record.qemu_downtime_ms == 42
    assert lab.phases(record, "clocks unread") == ["HSCLF107 Agent of sys2 did not answer."]
    assert "could not be timed" in lab.phases(record, "paused")[0]


async def test_target_profile_takes_dest_lpar_id_and_dest_profile_name(lab: Lab) -> None:
    record = await lab.migrate(dest_lpar_id=12, dest_profile_name="moved")

    moved = lab.target.hosted[NAME].profile
    assert (moved.lpar_id, moved.profile_name) == (12, "moved")
    assert record.dest_lpar_id == 12


async def test_lpar_id_taken_on_the_target_is_replaced_by_a_free_one(lab: Lab) -> None:
    lab.target.add(profile("other", lpar_id=3), S.NOT_ACTIVATED)

    record = await lab.migrate()

    assert lab.target.hosted[NAME].profile.lpar_id == record.dest_lpar_id == 1


# -- progress ---------------------------------------------------------------------------


async def test_progress_seen_by_a_watcher_never_goes_backwards(lab: Lab) -> None:
    seen = await watch_while(lab, await lab.job())

    transmitted = [r.bytes_transmitted for r in seen]
    assert transmitted == sorted(transmitted)
    assert len(set(transmitted)) >= 4  # the watcher saw the stream, not only its ends
    assert seen[-1].state == MigrationState.COMPLETE


async def test_progress_of_a_failed_stream_never_goes_backwards(lab: Lab) -> None:
    lab.source.script = failing_stream()

    seen = await watch_while(lab, await lab.job())

    transmitted = [r.bytes_transmitted for r in seen]
    assert seen[-1].state == MigrationState.FAILED
    assert transmitted == sorted(transmitted)


async def test_progress_shows_pre_copy_then_switch_over(lab: Lab) -> None:
    seen = await watch_while(lab, await lab.job())

    phases = [r.step_phase for r in seen if r.step == Step.MIGRATE and r.step_phase]
    assert phases[0] == "a: pre-copy"
    assert phases[-1] == "b: switch-over"
    assert set(phases) == {"a: pre-copy", "b: switch-over"}


# -- an inactive migration -------------------------------------------------------------


@pytest.fixture
def inactive(lab: Lab) -> Lab:
    lab.source.hosted[NAME].state = S.NOT_ACTIVATED
    return lab


async def test_inactive_migration_skips_the_mover_and_migrate_steps(inactive: Lab) -> None:
    record = await inactive.migrate()

    assert record.state == MigrationState.COMPLETE
    assert steps_begun_and_done(inactive.journal(record)) == each_begun_and_done(
        Step.PROFILE_TO_TARGET, Step.STORAGE_ON_TARGET, Step.RESUME_ON_TARGET,
        Step.STORAGE_OFF_SOURCE, Step.PROFILE_OFF_SOURCE)
    assert inactive.source_mover.calls == inactive.target_mover.calls == []
    assert inactive.source.called("start_outgoing") == []


async def test_inactive_migration_moves_the_profile_not_activated(inactive: Lab) -> None:
    before = inactive.source.hosted[NAME].profile

    await inactive.migrate()

    assert NAME not in inactive.source.hosted
    assert inactive.target.state_of(NAME) == S.NOT_ACTIVATED
    assert inactive.target.hosted[NAME].profile == before
    assert inactive.target.hosted[NAME].activated_once


async def test_inactive_migration_failing_before_commit_unmarks_the_source(
        inactive: Lab) -> None:
    inactive.target.fail_on["finish_incoming"] = HypervisorError("no", code="HSCLF131")

    record = await inactive.migrate()

    assert record.state == MigrationState.FAILED
    assert inactive.phases(record, "undone") == [UNMARK_SOURCE, REMOVE_TARGET]
    assert inactive.source.state_of(NAME) == S.NOT_ACTIVATED
    assert NAME not in inactive.target.hosted


# -- failures before commit: everything undone, the partition stays on the source -------


@dataclass(frozen=True)
class Failure:
    where: str
    method: str
    error: OpenLpmError
    step: MigrationStep
    undone: tuple[str, ...]

    @property
    def code(self) -> str:
        return self.error.code


STREAM_FAILED = "stream status failed"
FAILURES = {
    "target create": Failure(
        "target", "create", InsufficientResources("full", code="HSCLF125"),
        Step.PROFILE_TO_TARGET, ()),
    "prepare_incoming": Failure(
        "target", "prepare_incoming", HypervisorError("qemu did not start", code="HSCLF130"),
        # The movers joined while the target QEMU failed to start.
        Step.MOVER_SERVICES, (CLOSE_SOURCE_CHANNEL, CLOSE_TARGET_CHANNEL, REMOVE_TARGET)),
    "target mover expect": Failure(
        "target mover", "expect", SystemUnreachable("mover down", code="HSCLF107"),
        Step.MOVER_SERVICES, (REMOVE_TARGET,)),
    "source mover open": Failure(
        "source mover", "open", SystemUnreachable("mover down", code="HSCLF107"),
        Step.MOVER_SERVICES, (CLOSE_TARGET_CHANNEL, REMOVE_TARGET)),
    "start_outgoing": Failure(
        "source", "start_outgoing", HypervisorError("migrate refused", code="HSCLF132"),
        Step.MIGRATE, (CLOSE_SOURCE_CHANNEL, CLOSE_TARGET_CHANNEL, REMOVE_TARGET)),
    STREAM_FAILED: Failure(
        "source", "", HypervisorError("unused", code="HSCLF203"),
        Step.MIGRATE, (CANCEL_STREAM, CLOSE_SOURCE_CHANNEL, CLOSE_TARGET_CHANNEL,
                       REMOVE_TARGET)),
}


@pytest.fixture(params=list(FAILURES))
async def failed(request: pytest.FixtureRequest, lab: Lab) -> tuple[Failure, MigrationRecord]:
    failure = FAILURES[request.param]
    if request.param == STREAM_FAILED:
        lab.source.script = failing_stream()
    else:
        lab.fake(failure.where).fail_on[failure.method] = failure.error
    return failure, await lab.migrate()


async def test_failure_before_commit_ends_migration_failed_with_its_code(
        failed: tuple[Failure, MigrationRecord], lab: Lab) -> None:
    failure, record = failed

    assert record.state == MigrationState.FAILED
    assert record.error_code == failure.code
    assert record.step == failure.step
    assert record.error_message is not None
    assert record.error_message.endswith(f"The partition remains on {SOURCE}.")
    assert lab.inventory.migration(record.id) == record


async def test_failure_before_commit_leaves_the_partition_running_on_the_source(
        failed: tuple[Failure, MigrationRecord], lab: Lab) -> None:
    assert lab.source.state_of(NAME) == S.RUNNING
    assert lab.source.called("remove") == []


async def test_failure_before_commit_leaves_nothing_on_the_target(
        failed: tuple[Failure, MigrationRecord], lab: Lab) -> None:
    assert NAME not in lab.target.hosted
    assert (await lab.target.system()).free_memory_mb == lab.target.memory_mb
    assert lab.source_mover.channels == {}
    assert lab.target_mover.channels == {}


async def test_failure_before_commit_journals_each_undo_newest_first(
        failed: tuple[Failure, MigrationRecord], lab: Lab) -> None:
    failure, record = failed

    assert lab.phases(record, "undone") == list(failure.undone)
    assert lab.phases(record, "undo failed") == []
    assert (failure.step, "failed") in [(e.step, e.phase) for e in lab.journal(record)]


async def test_an_undo_that_fails_is_journalled_and_the_others_still_run(lab: Lab) -> None:
    lab.source.fail_on["start_outgoing"] = HypervisorError("refused", code="HSCLF132")
    lab.target_mover.fail_on["close_channel"] = SystemUnreachable("gone", code="HSCLF107")

    record = await lab.migrate()

    assert record.state == MigrationState.FAILED
    assert record.error_code == "HSCLF132"
    [failed_undo] = lab.phases(record, "undo failed")
    assert failed_undo.startswith(CLOSE_TARGET_CHANNEL)
    assert lab.phases(record, "undone") == [CLOSE_SOURCE_CHANNEL, REMOVE_TARGET]
    assert NAME not in lab.target.hosted


# -- failures after commit: the partition is the target's, nothing is undone ------------


COMMITTED_FAILURES = {
    "target finish_incoming": ("target", "finish_incoming", Step.RESUME_ON_TARGET),
    "source remove": ("source", "remove", Step.PROFILE_OFF_SOURCE),
}


@pytest.fixture(params=list(COMMITTED_FAILURES))
async def failed_after_commit(request: pytest.FixtureRequest, lab: Lab) -> MigrationRecord:
    where, method, _ = COMMITTED_FAILURES[request.param]
    lab.fake(where).fail_on[method] = HypervisorError("agent failed", code="HSCLF133")
    return await lab.migrate()


async def test_failure_after_commit_ends_failed_telling_to_recover(
        failed_after_commit: MigrationRecord) -> None:
    record = failed_after_commit

    assert record.state == MigrationState.FAILED
    assert record.error_code == "HSCLF133"
    assert record.error_message is not None
    assert f"The partition runs on {TARGET}" in record.error_message
    assert "migrlpar -o r -m sys1 -p lpar1" in record.error_message


async def test_failure_after_commit_undoes_nothing(failed_after_commit: MigrationRecord,
                                                   lab: Lab) -> None:
    assert NAME in lab.target.hosted
    assert lab.target.called("remove") == []
    assert lab.source.called("cancel_outgoing") == []
    assert lab.phases(failed_after_commit, "undone") == []


async def test_source_remove_failing_in_step_7_leaves_the_partition_running_on_target(
        lab: Lab) -> None:
    lab.source.fail_on["remove"] = HypervisorError("agent failed", code="HSCLF133")

    record = await lab.migrate()

    assert record.step == Step.PROFILE_OFF_SOURCE
    assert lab.target.state_of(NAME) == S.RUNNING
    assert lab.target.hosted[NAME].console == lab.source.hosted[NAME].console


async def test_failure_after_commit_leaves_the_mover_channels_to_recovery(
        failed_after_commit: MigrationRecord, lab: Lab) -> None:
    # The target may still be reading the stream's last bytes through them.
    assert list(lab.source_mover.channels) == [failed_after_commit.id]
    assert list(lab.target_mover.channels) == [failed_after_commit.id]


# -- wait time (-w) and stop -------------------------------------------------------------


async def test_stream_past_the_wait_time_is_cancelled_and_fails_hsclf202(lab: Lab) -> None:
    lab.source.script = stalled_stream()

    record = await asyncio.wait_for(lab.migrate(wait_minutes=0.001), 2.0)

    assert record.state == MigrationState.FAILED
    assert record.error_code == "HSCLF202"
    assert lab.source.called("cancel_outgoing") == [(NAME,)]
    assert lab.source.state_of(NAME) == S.RUNNING
    assert NAME not in lab.target.hosted


async def test_stopping_a_job_ends_migration_stopped_and_rolls_back(lab: Lab) -> None:
    lab.source.script = stalled_stream()
    job = await lab.job()
    task = asyncio.create_task(job.run())
    await asyncio.wait_for(until_streaming(lab, job.record.id), 1.0)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    record = lab.inventory.migration(job.record.id)
    assert record.state == MigrationState.STOPPED
    assert record.error_code == "HSCLF201"
    assert lab.phases(record, "stopped")
    assert lab.source.state_of(NAME) == S.RUNNING
    assert NAME not in lab.target.hosted


async def test_engine_shutdown_stops_the_jobs_in_flight(lab: Lab) -> None:
    lab.source.script = stalled_stream()
    engine = MigrationEngine(lab.site, lab.board)
    async with engine.running():
        submitted = await engine.submit(await lab.plan())
        await asyncio.wait_for(until_streaming(lab, submitted.id), 1.0)

    assert lab.inventory.migration(submitted.id).state == MigrationState.STOPPED
    assert lab.board.in_flight() == []
    assert lab.source.state_of(NAME) == S.RUNNING


async def test_a_stream_that_sends_nothing_is_cut_off_even_without_a_wait_time(
        lab: Lab) -> None:
    lab.source.script = stalled_stream()
    job = await lab.job()
    job.stall_timeout_s = 0.3

    record = await asyncio.wait_for(job.run(), 3.0)

    assert (record.state, record.error_code) == (MigrationState.FAILED, "HSCLF211")
    assert lab.source.state_of(NAME) == S.RUNNING
    assert NAME not in lab.target.hosted


async def test_a_stalled_stream_whose_target_qemu_does_not_answer_names_that_qemu(
        lab: Lab) -> None:
    lab.source.script = stalled_stream()
    lab.target.silent_qemus.add(NAME)
    job = await lab.job()
    job.stall_timeout_s = 0.3

    record = await asyncio.wait_for(job.run(), 3.0)

    assert (record.state, record.error_code) == (MigrationState.FAILED, "HSCLF215")
    assert f"QEMU of {NAME} on the target system {TARGET}" in str(record.error_message)
    assert lab.source.state_of(NAME) == S.RUNNING
    assert NAME not in lab.target.hosted


async def test_a_source_qemu_that_does_not_answer_is_cut_off_and_named(lab: Lab) -> None:
    lab.source.script = stalled_stream()
    lab.source.fail_on["outgoing_progress"] = HypervisorError(
        f"QEMU of partition {NAME} did not answer 'query-migrate' within 10 s: it is "
        f"stopped or hung.", code="HSCLF135")
    job = await lab.job()
    job.stall_timeout_s = 0.3

    record = await asyncio.wait_for(job.run(), 3.0)

    assert (record.state, record.error_code) == (MigrationState.FAILED, "HSCLF216")
    assert f"QEMU of {NAME} on the source system {SOURCE}" in str(record.error_message)
    assert NAME not in lab.target.hosted


async def test_a_progress_question_the_source_agent_never_answers_is_cut_at_the_stall_time(
        lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    lab.source.script = stalled_stream()
    job = await lab.job()
    job.stall_timeout_s = 0.3

    async def frozen(*_: object, **__: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(lab.source, "outgoing_progress", frozen)
    monkeypatch.setattr("openlpm.hmc.mobility.migrate.PROGRESS_ANSWER_S", 0.2)
    record = await asyncio.wait_for(job.run(), 3.0)

    assert (record.state, record.error_code) == (MigrationState.FAILED, "HSCLF217")
    assert NAME not in lab.target.hosted


async def test_a_stalled_stream_through_a_silent_mover_names_the_mover(lab: Lab) -> None:
    lab.source.script = stalled_stream()
    lab.target_mover.fail_on["stats"] = SystemUnreachable("Mover did not answer.")
    job = await lab.job()
    job.stall_timeout_s = 0.3

    record = await asyncio.wait_for(job.run(), 3.0)

    assert (record.state, record.error_code) == (MigrationState.FAILED, "HSCLF211")
    assert f"mover service {lab.target.movers[0].name} does not answer" in \
        str(record.error_message)


async def test_engine_stop_undoes_a_migration_before_its_commit_point(lab: Lab) -> None:
    lab.source.script = stalled_stream()
    engine = MigrationEngine(lab.site, lab.board)
    async with engine.running():
        submitted = await engine.submit(await lab.plan())
        await asyncio.wait_for(until_streaming(lab, submitted.id), 1.0)

        record = await engine.stop(submitted.id)

    assert (record.state, record.error_code) == (MigrationState.STOPPED, "HSCLF201")
    assert not engine.driven(submitted.id)
    assert lab.source.state_of(NAME) == S.RUNNING
    assert NAME not in lab.target.hosted


async def test_engine_stop_of_a_migration_not_in_progress_is_refused(lab: Lab) -> None:
    engine = MigrationEngine(lab.site, lab.board)
    with pytest.raises(WrongState) as caught:
        await engine.stop("m000")
    assert caught.value.code == "HSCLF206"


async def test_a_migration_beyond_a_systems_limit_waits_its_turn_then_runs(lab: Lab) -> None:
    lab.source.max_active_migrations = 1
    lab.source.add(profile("lpar2", lpar_id=4), S.RUNNING)
    lab.source.script = stalled_stream()
    engine = MigrationEngine(lab.site, lab.board)
    async with engine.running():
        first = await engine.submit(await lab.plan())
        await asyncio.wait_for(until_streaming(lab, first.id), 1.0)
        second_plan = await lab.plan(partition="lpar2")

        second = await engine.submit(second_plan)
        await asyncio.sleep(0.05)

        queued = lab.board.inventory.migration(second.id)
        assert queued.state == MigrationState.STARTING and queued.step is None
        assert queued.step_phase.startswith("queued: managed system sys1 (active migrations)")
        assert any(f.code == "HSCLF405" for f in second_plan.findings)
        await engine.stop(first.id)
        await asyncio.wait_for(until_streaming(lab, second.id), 1.0)
