"""Recovery of a migration left half-way (``migrlpar -o r``): one place for the partition.

A migration job undoes its own failures; recovery is for what no job settles any more:
the console restarted, an undo could not reach a system, an agent or a mover died. It
reads the partition's newest migration record and what both systems really have, decides
where the partition lives, and removes the copy everywhere else:

* a guest that runs on the target, or whose memory all reached the target, lives there
  (the commit point of the migration was passed): the target keeps it, the source's
  copy is removed;
* otherwise it lives on the source: the target's shell is removed first, then the
  source keeps the partition (its guest runs on; a guest that no longer runs anywhere
  is left Not Activated on the source, its profile intact).

With ``force``, a system that does not answer is left out: the other decides alone, and
the leftover on the silent system is removed by a later recovery once it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from openlpm.clients.agent import AgentClient
from openlpm.errors import ObjectNotFound, OpenLpmError, SystemUnreachable, WrongState
from openlpm.hmc.mobility.board import MigrationBoard
from openlpm.hmc.site.systems import Site
from openlpm.model import (
    MigrationRecord,
    MigrationState,
    PartitionProfile,
    PartitionRuntime,
    PartitionState,
    StreamStatus,
)

log = logging.getLogger("openlpm.hmc.mobility.recover")

# The partition's side of a migration: what its system holds, or why it is not known.
Side = PartitionRuntime | None


@dataclass(frozen=True)
class SideView:
    system: str
    # None when the side cannot be asked at all (another console's, with no keys).
    agent: AgentClient | None
    runtime: Side
    error: OpenLpmError | None = None

    @property
    def reachable(self) -> bool:
        return self.error is None


class Recovery:
    def __init__(self, site: Site, board: MigrationBoard,
                 driven: Callable[[str], bool]) -> None:
        self.site = site
        self.board = board
        self.driven = driven  # whether a job still drives the migration of that id

    async def recover(self, system: str, partition: str, force: bool) -> MigrationRecord:
        record = self._newest(system, partition)
        if record.driven_by is not None:
            raise WrongState(
                f"The migration {record.id} of {partition} is driven by console "
                f"{record.driven_by}: recover it there.", code="HSCLF527")
        if self.driven(record.id):
            raise WrongState(
                f"The migration {record.id} of {partition} is still in progress; stop it "
                f"with 'migrlpar -o s -m {record.source} -p {partition}' or wait for it.",
                code="HSCLF207")
        source, target = await asyncio.gather(self._view(record, record.source),
                                              self._view(record, record.target))
        silent = [v for v in (source, target) if not v.reachable]
        if len(silent) == 2:
            raise SystemUnreachable(
                f"Neither {record.source} nor {record.target} answers; the migration "
                f"{record.id} of {partition} cannot be recovered until one does.",
                code="HSCLF208")
        if source.runtime is not None and source.runtime.migration_status is not None \
                and source.runtime.migration_status.postcopy:
            raise WrongState(
                f"{partition} is in post-copy: it runs on {record.target} and still pulls "
                f"pages from {record.source}. Recover once the stream is complete; ending "
                f"either side now would lose the partition.", code="HSCLF213")
        if not target.reachable and source.runtime is not None and (
                source.runtime.migration_status == StreamStatus.COMPLETED
                or (source.runtime.migration_status is not None
                    and source.runtime.migration_status.postcopy)):
            raise SystemUnreachable(
                f"{record.source} sent all of {partition} to {record.target}, which does not "
                f"answer: the partition may run there. Bring {record.target} back and "
                f"recover again; even --force cannot decide this alone.", code="HSCLF212")
        if silent and not force:
            names = " and ".join(v.system for v in silent)
            raise SystemUnreachable(
                f"Managed system {names} does not answer, so the migration {record.id} of "
                f"{partition} cannot be recovered safely. Bring it back, or recover with "
                f"--force to decide from {self._other(silent, source, target)} alone.",
                code="HSCLF208")
        if on_target(source, target):
            return await self._settle(record, keep=target, drop=source, complete=True)
        return await self._settle(record, keep=source, drop=target, complete=False)

    async def recover_all(self, records: list[MigrationRecord]) -> None:
        """Recover migrations that no job drives any more (after a console restart).

        One that cannot be settled now stays as it is, journalled, for ``migrlpar -o r``.
        """
        for record in records:
            try:
                await self.recover(record.source, record.partition, force=False)
            except OpenLpmError as exc:
                self.board.inventory.journal(record.id, record.step, "recovery failed",
                                             f"{exc.code} {exc.message}")
                log.warning("migration %s: automatic recovery failed: %s", record.id, exc)
            except Exception:  # a bug must not keep the others unrecovered
                log.exception("migration %s: automatic recovery", record.id)

    def _newest(self, system: str, partition: str) -> MigrationRecord:
        self.site.inventory.system(system)
        found = self.site.inventory.migrations(system, partition, limit=1)
        if not found:
            raise ObjectNotFound(f"Partition {partition} has no migration involving managed "
                                 f"system {system} to recover.", code="HSCLF209")
        return found[0]

    def _agent(self, record: MigrationRecord, system: str) -> AgentClient:
        """The agent of one side; a target of another console is reached through it."""
        if system == record.target and record.target_console is not None:
            return self.site.remote_named(record.target_console).agent(system)
        return self.site.agent(system)

    async def _view(self, record: MigrationRecord, system: str) -> SideView:
        partition = record.partition
        try:
            agent = self._agent(record, system)
        except ObjectNotFound as exc:
            return SideView(system, None, None, exc)
        try:
            return SideView(system, agent, await agent.runtime(partition))
        except ObjectNotFound:
            return SideView(system, agent, None)
        except OpenLpmError as exc:
            return SideView(system, agent, None, exc)

    @staticmethod
    def _other(silent: list[SideView], *views: SideView) -> str:
        return next((v.system for v in views if v not in silent), "neither system")

    async def _settle(self, record: MigrationRecord, keep: SideView, drop: SideView,
                      complete: bool) -> MigrationRecord:
        journal = self.board.inventory.journal
        if keep.runtime is None and drop.runtime is None and keep.reachable \
                and drop.reachable:
            raise WrongState(f"Partition {record.partition} is on neither {record.source} "
                             f"nor {record.target}; there is nothing to recover.",
                             code="HSCLF210")
        if drop.runtime is not None and drop.agent is not None:
            await drop.agent.remove(record.partition)
            journal(record.id, record.step, "recovered",
                    f"removed the copy of {record.partition} on {drop.system}")
        elif not drop.reachable:
            journal(record.id, record.step, "recovered",
                    f"{drop.system} did not answer ({drop.error}); a later recovery removes "
                    f"what it still holds")
        if keep.runtime is not None and keep.agent is not None:
            kept = await keep.agent.keep(record.partition)
            await self._storage_to(kept.profile, record)
        await self._close_channels(record)
        where = keep.system if keep.runtime is not None or not keep.reachable \
            else drop.system
        journal(record.id, record.step, "recovered", f"{record.partition} is on {where}")
        log.info("migration %s recovered: %s is on %s", record.id, record.partition, where)
        state = MigrationState.COMPLETE if complete else (
            record.state if record.state.finished else MigrationState.FAILED)
        # Keep the cause (the message's first sentence); where the partition is, is now known.
        cause = (record.error_message or "The migration did not complete.").split(". ")[0]
        message = f"{cause.rstrip('.')}. Recovered: the partition is on {where}."
        updated = record.model_copy(update={
            "state": state, "ended": record.ended or time.time(),
            "error_message": None if complete and record.error_code is None else message,
            "error_code": record.error_code})
        await self.board.publish(updated)
        if record.target_console is not None:
            with contextlib.suppress(OpenLpmError):
                await self.site.remote_named(record.target_console).publish(
                    updated.model_copy(update={"driven_by": self.site.name}))
        return updated

    async def _storage_to(self, profile: PartitionProfile, record: MigrationRecord) -> None:
        """Only the WWPN the kept partition logs in with keeps its LUNs: the other of
        each pair (mapped by step 2, or still mapped before step 6) loses them."""
        for adapter in profile.virtual_fc_adapters:
            wwpn = adapter.standby_wwpn
            for lun in await self.site.san.luns(visible_to=wwpn):
                await self.site.san.unmap(lun.name, wwpn)
                self.board.inventory.journal(record.id, record.step, "recovered",
                                             f"unmapped LUN {lun.name} from {wwpn}")

    async def _close_channels(self, record: MigrationRecord) -> None:
        """The movers forget the migration, whatever they still held of it."""
        for system, name in ((record.source, record.source_msp_name),
                             (record.target, record.dest_msp_name)):
            if name is None:
                continue
            with contextlib.suppress(OpenLpmError):
                if system == record.target and record.target_console is not None:
                    remote = self.site.remote_named(record.target_console).mover(system, name)
                    try:
                        await remote.close_channel(record.id)
                    finally:
                        await remote.close()
                    continue
                info = await self.site.agent(system).system()
                mover = next((m for m in info.movers if m.name == name), None)
                if mover is not None:
                    await self.site.mover(mover.control_url).close_channel(record.id)


def on_target(source: SideView, target: SideView) -> bool:
    """Whether the partition passed its commit point: it now belongs to the target.

    True when the target's guest runs; when the source sent all of a running partition
    (its QEMU paused after a completed stream) and the target's QEMU holds it all; when
    the target finished taking an inactive partition (step 5); and when the source's copy
    is gone. A source that does not answer (``--force``) cannot say it sent anything, so
    then only a running guest on the target counts.
    """
    here, there = source.runtime, target.runtime
    if there is None:
        return False
    if there.guest_runs:
        return True
    if not source.reachable:
        return False
    if here is None:
        return True
    if here.migration_status is not None and here.migration_status.postcopy:
        return True  # the guest's state lives on the target from the switch on
    if here.migration_status == StreamStatus.COMPLETED \
            and there.qemu_status in ("running", "paused"):
        return True
    return (there.state == PartitionState.NOT_ACTIVATED and there.incoming_migration is None
            and here.state == PartitionState.MIGRATING_NOT_ACTIVATED)
