"""The migration orchestrator: the seven steps, journalled, undone on failure.

Until the source reports the stream completed (step 5a) the partition belongs to the
source: any failure undoes, newest first, everything made on the target and the
partition keeps running where it was. From then on it belongs to the target and what
is left is cleanup of the source.

A migration to a system of another console (``--ip``) runs the same steps: this console
drives them, reaching the target's agent and mover through the other console (which
checks that each call belongs to a migration announced to it) and keeping that console's
copy of the record current, so that both consoles' ``lslparmigr`` show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TypeVar

from openlpm.clients.seams import MigrationAgent, MigrationMover, MigrationSan
from openlpm.errors import (
    QEMU_NOT_ANSWERING,
    HypervisorError,
    MigrationFailed,
    ObjectNotFound,
    OpenLpmError,
    WrongState,
)
from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.mobility.convergence import ConvergencePolicy
from openlpm.hmc.mobility.pause import ClockOffset, clock_offset, guest_pause
from openlpm.hmc.mobility.slots import Limit, MigrationSlots, mover_limit, system_limit
from openlpm.hmc.mobility.stall import Silent, StalledStream, StallWatch, diagnose
from openlpm.hmc.mobility.validate import MigrationPlan
from openlpm.hmc.site.remote import PUBLISH_TIMEOUT_S
from openlpm.hmc.site.systems import Site
from openlpm.model import (
    Firmware,
    MigrationKind,
    MigrationProgress,
    MigrationRecord,
    MigrationRound,
    MigrationState,
    MigrationStep,
    PartitionProfile,
    Severity,
    StreamOptions,
    StreamStatus,
    SystemInfo,
)

log = logging.getLogger("openlpm.hmc.mobility.migrate")

Step = MigrationStep
PROGRESS_WAIT_S = 0.5
# A progress question still unanswered this long after the stall cut-off is not waited
# on (its agent's wait, PROGRESS_WAIT_S, and a loaded host's delay fit well within it):
# the agent, or its QEMU, does not answer.
PROGRESS_ANSWER_S = 5.0
# A stream that makes no progress for this long is cut off (a link down for good, a
# stopped QEMU): it is stopped even without -w, so a migration never runs forever.
STALL_TIMEOUT_S = 30.0
# A mover that does not answer within this long when a job ends is left for recovery.
CLEANUP_TIMEOUT_S = 5.0
MAX_ROUNDS_KEPT = 100
CONSOLE_HISTORY_LINES = 2000

Undo = Callable[[], Awaitable[object]]
T = TypeVar("T")


class Owner(enum.Enum):
    """Which system the partition belongs to while the job runs. It passes from source
    to target once, at the commit point: the stream completed, or the switch to
    post-copy was asked for. Before it any failure undoes the target's side; after it
    only the source is left to clean up."""

    SOURCE = "source"
    TARGET = "target"


class MigrationJob:
    """One migration, from the plan validation made to its end."""

    def __init__(self, plan: MigrationPlan, site: Site, board: MigrationBoard,
                 slots: MigrationSlots | None = None) -> None:
        assert plan.kind is not None and plan.target is not None
        self.plan = plan
        self.slots = slots or MigrationSlots()
        self.target: SystemInfo = plan.target
        self.site = site
        self.board = board
        self.name = plan.partition.name
        self.source_agent: MigrationAgent = site.agent(plan.request.source)
        self.remote = site.remote(plan.remote) if plan.remote else None
        self.target_agent: MigrationAgent = self.remote.agent(plan.request.target) \
            if self.remote else site.agent(plan.request.target)
        self.token = secrets.token_urlsafe(24)
        self._undo: list[tuple[str, Undo]] = []
        self._owner = Owner.SOURCE
        self._movers: list[MigrationMover] = []
        self._owned_movers: list[MigrationMover] = []
        self._profile_on_target = plan.partition.profile
        self.stall_timeout_s = STALL_TIMEOUT_S
        self._wait_limit: asyncio.Timeout | None = None
        # The source's STOP stamp of the switch-over, on the source host's clock.
        self._paused_at: float | None = None
        self.policy = ConvergencePolicy(
            plan.request.convergence or plan.source.convergence,
            plan.request.max_downtime_ms or plan.source.max_downtime_ms)
        warnings = tuple(f for f in plan.findings if f.severity == Severity.WARNING)
        self.record = MigrationRecord(
            id=f"m{uuid.uuid4().hex[:11]}", partition=self.name, source=plan.source.name,
            target=self.target.name, kind=plan.kind, state=MigrationState.STARTING,
            started=time.time(), dest_profile_name=plan.request.dest_profile_name,
            warnings=warnings, convergence=self.policy.kind,
            target_console=plan.remote.name if plan.remote else None,
            remote_user=plan.remote.user if plan.remote else None)

    @property
    def active(self) -> bool:
        return self.record.kind == MigrationKind.ACTIVE

    @property
    def committed(self) -> bool:
        return self._owner == Owner.TARGET

    def _commit(self, step: MigrationStep, why: str) -> None:
        """The commit point: the partition now belongs to the target (journalled once)."""
        if self._owner == Owner.SOURCE:
            self._owner = Owner.TARGET
            self._journal(step, "committed", why)

    @property
    def _san(self) -> MigrationSan:
        return self.site.san

    def _journal(self, step: MigrationStep | None, event: str, note: str = "") -> None:
        self.board.inventory.journal(self.record.id, step, event, note)

    def stream_options(self) -> StreamOptions:
        request = self.plan.request
        return self.policy.options().model_copy(update={
            "streams": request.streams, "compression": request.compression})

    async def run(self) -> MigrationRecord:
        try:
            if self.remote is not None:
                # The other console lets its systems be changed only for a migration it
                # knows of; a console that refuses stops the migration here.
                await self.remote.publish(self._for_remote())
            await self.slots.acquire(self.record.id, self._limits(), self._queued)
            await self._publish(state=MigrationState.IN_PROGRESS, step_phase="")
            await self._steps()
        except asyncio.CancelledError:
            await self._end_failed(MigrationFailed("The migration was stopped.",
                                                   code="HSCLF201"), stopped=True)
            raise
        except OpenLpmError as exc:
            await self._end_failed(exc)
        except Exception as exc:  # a bug must still leave the partition in one place
            log.exception("migration %s", self.record.id)
            await self._end_failed(MigrationFailed(f"Internal error: {exc!r}"))
        else:
            await self._publish(state=MigrationState.COMPLETE, ended=time.time())
        finally:
            await self.slots.release(self.record.id)
            await self._close_channels()
        return self.record

    def _limits(self) -> tuple[Limit, ...]:
        kind = self.record.kind
        active = kind == MigrationKind.ACTIVE
        limits = [system_limit(system.name, kind, system.max_active_migrations if active
                               else system.max_inactive_migrations)
                  for system in (self.plan.source, self.target)]
        if active:
            for mover in (self.plan.source_mover, self.plan.target_mover):
                limits.append(mover_limit(mover.name, mover.max_migrations))
        return tuple(limits)

    async def _queued(self, reason: str) -> None:
        self._journal(None, "queued", reason)
        await self._publish(step_phase=f"queued: {reason}")

    async def _steps(self) -> None:
        async with self._step(Step.PROFILE_TO_TARGET):
            await self._profile_to_target()
        async with self._step(Step.STORAGE_ON_TARGET, self._storage_note()):
            await self._storage_on_target()
        if self.active:
            async with self._step(Step.MOVER_SERVICES):
                stream_uri = await self._open_channel()
            async with self._step(Step.MIGRATE):
                await self._transfer(stream_uri)
                await self._note_connections()
        async with self._step(Step.RESUME_ON_TARGET):
            await self._resume_on_target()
        async with self._step(Step.STORAGE_OFF_SOURCE, self._storage_note()):
            await self._storage_off_source()
        async with self._step(Step.PROFILE_OFF_SOURCE):
            await self._profile_off_source()

    # -- the steps --------------------------------------------------------------------

    async def _profile_to_target(self) -> None:
        # A running partition's UEFI variables cross in its memory stream (QEMU writes
        # them out on the target); an inactive one's are only in its source's file.
        nvram = None if self.active or self.plan.partition.profile.firmware != Firmware.UEFI \
            else await self.source_agent.nvram(self.name)
        created = await self.target_agent.create(
            self._target_profile(), incoming_migration=self.record.id, running=self.active,
            preferred_lpar_id=self.plan.partition.profile.lpar_id, nvram=nvram)
        self._on_failure("remove the profile from the target",
                         lambda: self.target_agent.remove(self.name))
        for moved in _vlan_moves(self.plan.partition.profile, self._profile_on_target):
            self._journal(Step.PROFILE_TO_TARGET, "moved", f"{moved} on {self.target.name}")
        await self._publish(dest_lpar_id=created.lpar_id)
        if not self.active:
            await self.source_agent.mark_outgoing(self.name)
            self._on_failure("mark the partition not migrating on the source",
                             lambda: self.source_agent.unmark_outgoing(self.name))

    async def _resume_on_target(self) -> None:
        # Both hosts' clocks are read while the target waits for its guest to run, so
        # that timing the guest's pause costs the migration no time.
        clocks = asyncio.create_task(self._host_clocks()) if self.active else None
        try:
            finished = await self.target_agent.finish_incoming(self.name)
        except BaseException:
            if clocks is not None:
                clocks.cancel()
            raise
        self._commit(Step.RESUME_ON_TARGET, "the target holds the partition")
        await self._publish(step_phase="b: traffic handed over")
        if clocks is not None:
            await self._note_pause(finished.resumed_at, await clocks)

    async def _host_clocks(self) -> tuple[ClockOffset, ClockOffset] | None:
        try:
            source, target = await asyncio.gather(clock_offset(self.source_agent),
                                                  clock_offset(self.target_agent))
        except OpenLpmError as exc:
            self._journal(Step.RESUME_ON_TARGET, "clocks unread", str(exc))
            return None
        return source, target

    async def _note_pause(self, resumed_at: float | None,
                          clocks: tuple[ClockOffset, ClockOffset] | None) -> None:
        """The record's downtime becomes the guest's real pause, source STOP to target
        RESUME; without both stamps and both clocks it stays QEMU's own figure."""
        qemu_ms = self.record.qemu_downtime_ms
        if self._paused_at is None or resumed_at is None or clocks is None:
            self._journal(Step.RESUME_ON_TARGET, "paused",
                          f"QEMU measured {qemu_ms} ms on {self.record.source}; the guest's "
                          f"pause could not be timed across both systems")
            return
        pause = guest_pause(self._paused_at, clocks[0], resumed_at, clocks[1])
        self._journal(Step.RESUME_ON_TARGET, "paused",
                      f"{pause.ms} ms (±{pause.uncertainty_ms:.1f}) from the STOP on "
                      f"{self.record.source} to the RESUME on {self.record.target}; QEMU "
                      f"measured {qemu_ms} ms on {self.record.source}")
        await self._publish(downtime_ms=pause.ms)

    def _target_profile(self) -> PartitionProfile:
        """The profile as the target keeps it: the id and profile name requested (else
        the target keeps its id if it is free there), each virtual FC adapter logged in
        with the other WWPN of its pair, and each virtual adapter on an I/O service the
        target has (the one requested for it, if any)."""
        request, profile = self.plan.request, self.plan.partition.profile
        lpar_id = request.dest_lpar_id
        placed = request.placed(profile, self.target.io_services)
        adapters = tuple(a.model_copy(update={"wwpn_in_use": 1 - a.wwpn_in_use})
                         for a in placed.virtual_fc_adapters)
        self._profile_on_target = placed.model_copy(update={
            "lpar_id": lpar_id, "virtual_fc_adapters": adapters,
            "profile_name": request.dest_profile_name or profile.profile_name})
        return self._profile_on_target

    def _storage_note(self) -> str:
        profile = self.plan.partition.profile
        if not profile.virtual_fc_adapters and not profile.virtual_scsi_adapters:
            return "no virtual storage"
        return ", ".join([*(f"virtual FC slot {a.slot} ({a.active_wwpn} -> {a.standby_wwpn})"
                            for a in profile.virtual_fc_adapters),
                          *(f"virtual SCSI slot {a.slot}" for a in
                            profile.virtual_scsi_adapters)])

    async def _storage_on_target(self) -> None:
        """Map each NPIV LUN to the WWPN the target logs in with; the target then opens
        every LUN of the partition, so a missing one stops the migration here."""
        profile = self.plan.partition.profile
        if not profile.virtual_fc_adapters and not profile.virtual_scsi_adapters:
            return
        for moved in _io_service_moves(profile, self._profile_on_target):
            self._journal(Step.STORAGE_ON_TARGET, "moved", f"{moved} on {self.target.name}")
        for adapter in profile.virtual_fc_adapters:
            standby = adapter.standby_wwpn
            for lun in await self._san.luns(visible_to=adapter.active_wwpn):
                if standby in lun.mappings:
                    continue
                self._on_failure(f"unmap LUN {lun.name} from {standby}",
                                 partial(self._san.unmap, lun.name, standby))
                await self._san.map(lun.name, standby)
        seen = await self.target_agent.check_storage(self._profile_on_target)
        self._journal(Step.STORAGE_ON_TARGET, "seen",
                      f"{self.target.name} opens LUNs {', '.join(seen.luns)}"
                      if seen.luns else f"{self.target.name} needs no LUN")
        for lost in seen.lost_paths:
            self._journal(Step.STORAGE_ON_TARGET, "path lost", f"{lost} on {self.target.name}")

    async def _storage_off_source(self) -> None:
        """End the source's access: each NPIV LUN is unmapped from the WWPN it used."""
        for adapter in self.plan.partition.profile.virtual_fc_adapters:
            wwpn = adapter.active_wwpn
            for lun in await self._san.luns(visible_to=wwpn):
                await self._san.unmap(lun.name, wwpn)
                self._journal(Step.STORAGE_OFF_SOURCE, "unmapped", f"LUN {lun.name} from {wwpn}")

    async def _open_channel(self) -> str:
        """Join the source QEMU to the target's through the movers; returns where the
        source QEMU sends its stream."""
        source_mover_info, target_mover_info = self.plan.source_mover, self.plan.target_mover
        encrypted = self.plan.facts.encrypted
        await self._publish(source_msp_name=source_mover_info.name,
                            dest_msp_name=target_mover_info.name,
                            source_msp_id=self.plan.source.mover_id(source_mover_info.name),
                            dest_msp_id=self.target.mover_id(target_mover_info.name),
                            encrypted=encrypted)
        source_mover = self._mover(self.site.migration_mover(source_mover_info.control_url))
        target_mover = self._mover(
            self.remote.mover(self.target.name, target_mover_info.name) if self.remote
            else self.site.migration_mover(target_mover_info.control_url),
            owned=self.remote is not None)

        async def join_movers() -> str:
            # Undos are registered before the calls they undo: a call cut short by a stop
            # or by -w may still have acted, and an undo of what was not done is harmless.
            self._on_failure("close the target mover channel",
                             lambda: target_mover.close_channel(self.record.id))
            await target_mover.expect(self.record.id, self.token, self.name, encrypted)
            self._on_failure("close the source mover channel",
                             lambda: source_mover.close_channel(self.record.id))
            return await source_mover.open(self.record.id, self.token,
                                           target_mover_info.data_address, encrypted)

        # The target QEMU starts while the movers join: the target mover connects to
        # it only when the stream arrives, so neither waits for the other. Its undo is
        # the profile's removal (step 1), which ends it.
        _, uri = await _together(
            self.target_agent.prepare_incoming(self.name, self.stream_options()),
            join_movers())
        return uri

    async def _transfer(self, uri: str) -> None:
        wait = self.plan.request.wait_minutes
        try:
            async with asyncio.timeout(None if wait is None else wait * 60) as limit:
                self._wait_limit = limit
                await self._stream(uri)
        except TimeoutError:
            raise MigrationFailed(
                f"The migration of {self.name} did not finish within the wait time of "
                f"{wait} minutes (-w) and was stopped.", code="HSCLF202") from None

    async def _stream(self, uri: str) -> None:
        await self._publish(step_phase="a: pre-copy")
        self._on_failure("cancel the stream; the partition resumes on the source",
                         lambda: self.source_agent.cancel_outgoing(self.name))
        await self.source_agent.start_outgoing(self.name, uri, self.stream_options())
        await self._publish(downtime_limit_ms=self.policy.downtime_limit_ms)
        status = StreamStatus.SETUP
        watch = StallWatch(self.stall_timeout_s)
        while True:
            sample = await self._sample(status, watch)
            if sample is None:
                if watch.overdue:
                    raise await diagnose(self._stalled_stream(), watch)
                continue
            status = sample.status
            await self._follow_policy(sample)
            watch.sampled(sample.transferred, self.committed)
            if watch.overdue and status != StreamStatus.COMPLETED:
                raise await diagnose(self._stalled_stream(), watch)
            phase = "b: switch-over" if status.switching_over else self.record.step_phase
            # A failed or cancelled stream reports no counters: keep the last ones.
            await self._publish(step_phase=phase, bytes_transmitted=max(
                sample.transferred, self.record.bytes_transmitted),
                bytes_remaining=sample.remaining, rate_bps=sample.rate_bps,
                passes=sample.passes)
            if status.postcopy:
                self._commit(Step.MIGRATE, "post-copy: the partition runs on the target "
                             "and pulls its remaining pages from the source")
            if status == StreamStatus.COMPLETED:
                self._commit(Step.MIGRATE, "the stream is complete: the partition now "
                             "belongs to the target")
                self._paused_at = sample.paused_at
                await self._publish(downtime_ms=sample.downtime_ms,
                                    qemu_downtime_ms=sample.downtime_ms, bytes_remaining=0,
                                    total_time_ms=sample.total_time_ms)
                return
            if status in (StreamStatus.FAILED, StreamStatus.CANCELLED):
                raise MigrationFailed(
                    f"QEMU ended the stream of {self.name} with status {status}: "
                    f"{sample.error or 'no reason given'}.", code="HSCLF203")

    async def _sample(self, status: StreamStatus, watch: StallWatch) -> \
            MigrationProgress | None:
        """The source's progress; None when its QEMU or agent did not answer, in time for
        the stall cut-off (not waited past by more than PROGRESS_ANSWER_S) or at all.
        After the commit point the cut-off no longer applies and any failure is raised."""
        try:
            async with asyncio.timeout(None if self.committed
                                       else watch.left() + PROGRESS_ANSWER_S):
                return await self.source_agent.outgoing_progress(
                    self.name, wait=PROGRESS_WAIT_S, known_status=status)
        except TimeoutError:
            # Cut while waiting: a QEMU already found silent is still the cause.
            watch.silent = watch.silent or Silent.AGENT
        except HypervisorError as exc:
            if exc.code != QEMU_NOT_ANSWERING or self.committed:
                raise
            watch.silent = Silent.QEMU
        return None

    def _stalled_stream(self) -> StalledStream:
        names = (self.plan.source_mover.name, self.plan.target_mover.name)
        return StalledStream(self.name, self.record.source, self.record.target,
                             self.target_agent, tuple(zip(names, self._movers, strict=False)),
                             self.record.id)

    async def _note_connections(self) -> None:
        """Journal how many connections the stream used through the source mover."""
        with contextlib.suppress(OpenLpmError):
            stats = await self._movers[0].stats(self.record.id)
            protection = f", {stats.cipher}" if stats.encrypted else ", not encrypted"
            self._journal(Step.MIGRATE, "carried",
                          f"{stats.connections} connection(s) through the movers, "
                          f"{stats.bytes_out / 2**20:.0f} MiB out{protection}")

    async def _follow_policy(self, sample: MigrationProgress) -> None:
        """Record each new pre-copy pass; carry out the convergence policy's decision."""
        if sample.passes > (self.record.rounds[-1].number if self.record.rounds else 0):
            rounds = (*self.record.rounds, MigrationRound(
                number=sample.passes, dirty_rate_pps=sample.dirty_rate_pps,
                transferred=sample.transferred, remaining=sample.remaining,
                downtime_limit_ms=self.policy.downtime_limit_ms,
                throttle_pct=sample.throttle_pct))
            await self._publish(rounds=rounds[-MAX_ROUNDS_KEPT:])
        decision = self.policy.decide(sample)
        if decision is None:
            return
        if decision.start_postcopy:
            await self._switch_to_postcopy(sample.passes)
        elif decision.downtime_limit_ms is not None:
            await self.source_agent.tune_outgoing(self.name, decision.downtime_limit_ms)
            self._journal(Step.MIGRATE, "downtime limit",
                          f"{decision.downtime_limit_ms} ms after {sample.passes} passes")
            await self._publish(downtime_limit_ms=decision.downtime_limit_ms)

    async def _switch_to_postcopy(self, passes: int) -> None:
        """Ask QEMU to switch to post-copy, past the commit point before asking: once
        QEMU switches, nothing may cancel the stream, and neither -w nor the stall
        cut-off applies any more. A refused request leaves it before the point."""
        self._journal(Step.MIGRATE, "post-copy", f"pre-copy did not converge in {passes} passes")
        self._owner = Owner.TARGET
        if self._wait_limit is not None:
            self._wait_limit.reschedule(None)
        try:
            await self.source_agent.start_postcopy(self.name)
        except OpenLpmError:
            self._owner = Owner.SOURCE
            raise
        self._journal(Step.MIGRATE, "committed", "post-copy asked for: the partition "
                      "belongs to the target")
        await self._publish(step_phase="b: post-copy")

    async def _profile_off_source(self) -> None:
        history = await (self.source_agent.final_console(self.name, CONSOLE_HISTORY_LINES)
                         if self.active else
                         self.source_agent.console(self.name, CONSOLE_HISTORY_LINES))
        # The source's copy goes while the target takes its console history: neither
        # needs the other.
        await _together(self.target_agent.merge_console(self.name, history),
                        self.source_agent.remove(self.name))

    # -- bookkeeping ------------------------------------------------------------------

    def _mover(self, client: MigrationMover, owned: bool = False) -> MigrationMover:
        """A mover of this migration; ``owned``: a client made for it alone (through
        another console), closed when it ends."""
        self._movers.append(client)
        if owned:
            self._owned_movers.append(client)
        return client

    async def _close_channels(self) -> None:
        """The movers forget this migration, unless it failed after its commit point:
        then the target may still be reading the stream's last bytes (or a post-copy
        still pulls pages) through them, and recovery closes them once it is settled."""
        keep = self.committed and self.record.state != MigrationState.COMPLETE
        for mover in self._movers:
            if not keep:
                with contextlib.suppress(OpenLpmError, TimeoutError):
                    async with asyncio.timeout(CLEANUP_TIMEOUT_S):
                        await mover.close_channel(self.record.id)
        for mover in self._owned_movers:
            await mover.close()
        self._movers.clear()
        self._owned_movers.clear()

    def _on_failure(self, what: str, undo: Undo) -> None:
        self._undo.append((what, undo))

    @asynccontextmanager
    async def _step(self, step: MigrationStep, note: str = "") -> AsyncIterator[None]:
        self._journal(step, "begin", note)
        await self._publish(step=step, step_phase="")
        try:
            yield
        except BaseException as exc:
            self._journal(step, "failed", str(exc))
            raise
        self._journal(step, "done")

    async def _end_failed(self, exc: OpenLpmError, stopped: bool = False) -> None:
        if self.committed:
            message = (f"{exc.message} The partition runs on {self.record.target}; the "
                       f"source {self.record.source} was not fully cleaned up: run "
                       f"'migrlpar -o r -m {self.record.source} -p {self.name}'.")
        else:
            failed = await self._roll_back()
            message = f"{exc.message} The partition remains on {self.record.source}."
            if failed:
                message += (f" Not undone: {'; '.join(failed)} (journal 'undo failed'): run "
                            f"'migrlpar -o r -m {self.record.source} -p {self.name}' once "
                            f"both systems answer.")
        self._journal(self.record.step, "stopped" if stopped else "failed", message)
        await self._publish(state=MigrationState.STOPPED if stopped else MigrationState.FAILED,
                            ended=time.time(), error_code=exc.code, error_message=message)

    async def _roll_back(self) -> list[str]:
        """Run the undos newest first; returns those that failed."""
        failed: list[str] = []
        for what, undo in reversed(self._undo):
            try:
                await undo()
            except (ObjectNotFound, WrongState) as exc:
                self._journal(self.record.step, "nothing to undo", f"{what}: {exc.message}")
            except OpenLpmError as exc:
                self._journal(self.record.step, "undo failed", f"{what}: {exc}")
                log.warning("migration %s: could not %s: %s", self.record.id, what, exc)
                failed.append(what)
            else:
                self._journal(self.record.step, "undone", what)
        self._undo.clear()
        return failed

    async def _publish(self, **changes: object) -> None:
        self.record = self.record.model_copy(update=changes)
        await self.board.publish(self.record)
        if self.remote is not None:
            try:
                await self.remote.publish(self._for_remote(), timeout=PUBLISH_TIMEOUT_S)
            except OpenLpmError as exc:
                log.warning("migration %s: console %s did not take the record: %s",
                            self.record.id, self.remote.name, exc)

    def _for_remote(self) -> MigrationRecord:
        return self.record.model_copy(update={"driven_by": self.site.name or "remote"})


class MigrationEngine:
    """Runs migration jobs as tasks of one group, owned by whoever runs the engine (the
    console's lifespan): when it ends, every job still in flight is stopped — undone
    where it has not passed its commit point — and awaited."""

    def __init__(self, site: Site, board: MigrationBoard) -> None:
        self.site = site
        self.board = board
        self._group: asyncio.TaskGroup | None = None
        self._tasks: dict[str, asyncio.Task[MigrationRecord]] = {}
        self._jobs: dict[str, MigrationJob] = {}
        self.slots = MigrationSlots()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                yield
            finally:
                self._group = None
                for task in self._tasks.values():
                    task.cancel()

    def driven(self, migration_id: str) -> bool:
        """Whether a job still decides this migration's outcome (its cleanup may go on)."""
        job = self._jobs.get(migration_id)
        return job is not None and not job.record.state.finished

    async def submit(self, plan: MigrationPlan) -> MigrationRecord:
        """Start a job for ``plan``; returns its first record.

        Raises WrongState when the engine is not running (the console is stopping).
        """
        if self._group is None:
            raise WrongState("The console is stopping and starts no migration; start it "
                             "again, or use another console of the site.", code="HSCLF214")
        job = MigrationJob(plan, self.site, self.board, self.slots)
        await self.board.publish(job.record)
        migration_id = job.record.id
        task = self._group.create_task(job.run(), name=f"migration {migration_id}")
        self._tasks[migration_id] = task
        self._jobs[migration_id] = job

        def forget(_: object) -> None:
            self._tasks.pop(migration_id, None)
            self._jobs.pop(migration_id, None)

        task.add_done_callback(forget)
        return job.record

    async def stop(self, migration_id: str) -> MigrationRecord:
        """``migrlpar -o s``: end the migration before its commit point, undoing it.

        Raises WrongState when no job drives it or when it has passed its commit point
        (the partition already belongs to the target: the migration completes).
        """
        job, task = self._jobs.get(migration_id), self._tasks.get(migration_id)
        if job is None or task is None or not self.driven(migration_id):
            raise WrongState(f"Migration {migration_id} is not in progress.", code="HSCLF206")
        if job.committed:
            raise WrongState(
                f"The migration {migration_id} of {job.name} has passed its commit point: "
                f"the partition already runs on {job.record.target}, and the migration "
                f"completes.", code="HSCLF205")
        task.cancel()
        await asyncio.wait([task])
        return job.record


async def _together(*calls: Awaitable[T]) -> list[T]:
    """Await ``calls`` at once; the first to fail is raised as itself, the others are
    cancelled (the steps' error handling knows OpenLpmError, not exception groups)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(call)) for call in calls]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _awaited(call: Awaitable[T]) -> T:
    return await call


def _vlan_moves(before: PartitionProfile, after: PartitionProfile) -> list[str]:
    """Each virtual Ethernet adapter put on another VLAN (vlan_mappings), as the journal
    says it."""
    return [f"virtual Ethernet slot {a.slot} from VLAN {a.port_vlan_id} to {b.port_vlan_id}"
            for a, b in zip(before.virtual_eth_adapters, after.virtual_eth_adapters,
                            strict=True) if a.port_vlan_id != b.port_vlan_id]


def _io_service_moves(before: PartitionProfile, after: PartitionProfile) -> list[str]:
    """Each virtual adapter that changed I/O service, said as the journal says it."""
    return [f"virtual {kind} slot {a.slot} from I/O service {a.io_service} to {b.io_service}"
            for kind, pairs in (("FC", zip(before.virtual_fc_adapters,
                                           after.virtual_fc_adapters, strict=True)),
                                ("SCSI", zip(before.virtual_scsi_adapters,
                                             after.virtual_scsi_adapters, strict=True)))
            for a, b in pairs if a.io_service != b.io_service]
