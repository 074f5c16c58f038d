"""The partitions of one managed system: profiles, QEMU processes, resources and states.

Every state change goes through ``_move`` which checks it against ``TRANSITIONS``, so a
partition can never, for instance, be activated while a migration brings it here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from openlpm.agent.console import ConsoleLog
from openlpm.agent.host_devices import AllowedDirectories
from openlpm.agent.profiles import ProfileRecord, ProfileStore
from openlpm.agent.qemu import QMP_PROBE_TIMEOUT_S, QemuPartition, QemuSettings
from openlpm.agent.settings import SettingsFile, SystemSettings
from openlpm.agent.storage import SanAccess
from openlpm.agent.storage import qemu_arguments as storage_arguments
from openlpm.clients.guest_agent import GuestAgentAbsent, GuestCommandFailed
from openlpm.errors import (
    HypervisorError,
    InsufficientResources,
    ObjectExists,
    RequestInvalid,
    WrongState,
)
from openlpm.model import (
    ConsoleLine,
    Firmware,
    GuestVerdict,
    IncomingFinished,
    MigrationProgress,
    Partition,
    PartitionProfile,
    PartitionRuntime,
    PartitionState,
    StorageSeen,
    StreamOptions,
)
from openlpm.net.ports import plug_ports, with_macs
from openlpm.net.ports import qemu_arguments as port_arguments
from openlpm.net.switch import VirtualSwitch
from openlpm.private import make_private, private_directory, write_private

log = logging.getLogger("openlpm.agent.partitions")

S = PartitionState
TRANSITIONS: dict[PartitionState, frozenset[PartitionState]] = {
    S.NOT_ACTIVATED: frozenset({S.STARTING, S.MIGRATING_RUNNING, S.MIGRATING_NOT_ACTIVATED}),
    S.STARTING: frozenset({S.RUNNING, S.ERROR, S.NOT_ACTIVATED}),
    S.RUNNING: frozenset({S.SHUTTING_DOWN, S.MIGRATING_RUNNING, S.NOT_ACTIVATED, S.ERROR}),
    S.SHUTTING_DOWN: frozenset({S.NOT_ACTIVATED, S.ERROR}),
    S.MIGRATING_RUNNING: frozenset({S.RUNNING, S.NOT_ACTIVATED, S.ERROR}),
    S.MIGRATING_NOT_ACTIVATED: frozenset({S.NOT_ACTIVATED}),
    S.ERROR: frozenset({S.NOT_ACTIVATED, S.STARTING}),
}

SHUTDOWN_GRACE_S = 30.0
# How often a booting partition's guest agent is asked until it answers.
GUEST_POLL_S = 2.0
RESUME_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Capacity:
    cpus: int
    memory_mb: int


class PartitionManager:
    def __init__(self, system: str, state_dir: Path, capacity: Capacity,
                 qemu: QemuSettings, switch: VirtualSwitch | None = None,
                 io_services: int = 1, allowed_dirs: tuple[Path, ...] = ()) -> None:
        self.system = system
        # Its profiles, console logs, keys and QEMU's files: the system's own.
        make_private(state_dir)
        self.allowed = AllowedDirectories.of(system, allowed_dirs)
        self.storage = SanAccess(system, state_dir / "fabric", io_services,
                                 state_dir / "san.json")
        self.switch = switch
        self.capacity = capacity
        self.qemu_settings = qemu
        self.store = ProfileStore(state_dir / "profiles", system)
        self.run_root = state_dir / "run"
        self.settings = SettingsFile(state_dir / "system.json")
        self._states: dict[str, PartitionState] = {}
        self._qemus: dict[str, QemuPartition] = {}
        self._consoles: dict[str, ConsoleLog] = {}
        # What each running partition's guest agent said of its operating system, and
        # the task asking it until it answers.
        self._os_versions: dict[str, str] = {}
        self._guest_watchers: dict[str, asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()

    # -- start-up -----------------------------------------------------------------------

    async def adopt_running(self) -> None:
        """After an agent restart, take back the QEMUs that kept running without it."""
        for record in self.store.all():
            name = record.profile.name
            qemu = self._qemu(name)
            if qemu.pid() is None:
                self._states[name] = S.NOT_ACTIVATED
                continue
            try:
                await qemu.connect()
            except HypervisorError as exc:
                # Its QEMU runs but nobody can drive it (hung, stopped): the system still
                # starts, and says so, rather than hanging or failing with it.
                self._states[name] = S.ERROR
                log.error("partition %s: its QEMU (pid %s) runs but %s", name, qemu.pid(),
                          exc.message)
                continue
            console = self._console(name)
            console.catch_up(qemu.console_log)
            console.follow(qemu.console_socket, qemu.console_log)
            state = S.MIGRATING_RUNNING if record.incoming_migration else S.RUNNING
            self._states[name] = state
            if state == S.RUNNING:
                self._watch_guest(record.profile)
            log.info("adopted running partition %s (pid %s)", name, qemu.pid())

    async def close(self) -> None:
        for name in list(self._guest_watchers):
            await self._forget_guest(name)
        for qemu in self._qemus.values():
            await qemu.disconnect()
        for console in self._consoles.values():
            await console.close()
        await self.storage.close()

    # -- queries ------------------------------------------------------------------------

    def partitions(self) -> list[Partition]:
        return [self._view(record) for record in self.store.all()]

    def partition(self, name: str) -> Partition:
        return self._view(self.store.get(name))

    def qemu_pids(self) -> dict[str, int]:
        """The QEMU process of each partition that has one here."""
        pids = {record.profile.name: self._qemu(record.profile.name).pid()
                for record in self.store.all()}
        return {name: pid for name, pid in pids.items() if pid is not None}

    def free(self) -> Capacity:
        used_cpus = used_mem = 0
        for record in self.store.all():
            if self._holds_resources(record):
                used_cpus += record.profile.desired_procs
                used_mem += record.profile.desired_mem
        return Capacity(self.capacity.cpus - used_cpus, self.capacity.memory_mb - used_mem)

    def console(self, name: str, lines: int) -> list[ConsoleLine]:
        self.store.get(name)
        return self._console(name).tail(lines)

    async def final_console(self, name: str, lines: int) -> list[ConsoleLine]:
        """The console of a partition that left by migration, to the last line it wrote
        here; its console is followed no more."""
        self._require(name, S.MIGRATING_RUNNING)
        console, qemu = self._console(name), self._qemu(name)
        await console.seal(qemu.console_log, qemu.paused_at)
        return console.tail(lines)

    @property
    def maintenance(self) -> bool:
        return self.settings.read().maintenance

    def set_maintenance(self, on: bool) -> None:
        self.change_settings(maintenance=on)
        log.info("maintenance mode %s", "on" if on else "off")

    def change_settings(self, **changes: object) -> SystemSettings:
        settings = SystemSettings.model_validate(
            self.settings.read().model_dump() | changes)
        self.settings.write(settings)
        return settings

    # -- profile lifecycle --------------------------------------------------------------

    async def create(self, profile: PartitionProfile, incoming_migration: str | None,
                     running: bool, preferred_lpar_id: int | None = None,
                     nvram: bytes | None = None) -> Partition:
        """Store a new partition; for a migration, reserve its resources now (step 1).
        ``nvram``: the UEFI variables it brings (an inactive migration's)."""
        self.storage.check_io_services(profile)
        self.allowed.check(profile)
        if nvram is not None:
            self._check_nvram(profile, nvram)
        async with self._lock:
            if self.maintenance:
                what = "an incoming migration" if incoming_migration else "a new partition"
                raise WrongState(
                    f"Managed system {self.system} is in maintenance and takes no {what}. "
                    f"End maintenance first ('openlpm maintenance -m {self.system} --off').",
                    code="HSCLF128")
            if self.store.exists(profile.name):
                raise ObjectExists(
                    f"A partition named {profile.name} already exists on managed system "
                    f"{self.system}. Choose another name.", code="HSCLF122")
            profile = with_macs(profile).model_copy(
                update={"lpar_id": self._lpar_id_for(profile, preferred_lpar_id),
                        # A new partition gets its UUID here; a migrating one brings its
                        # own (one from before UUIDs keeps none: its QEMU had no -uuid).
                        "uuid": profile.uuid or (None if incoming_migration
                                                 else str(uuid.uuid4()))})
            if incoming_migration and running:
                self._reserve(profile)
            record = ProfileRecord(profile=profile, activated_once=incoming_migration is not None,
                                   incoming_migration=incoming_migration)
            if nvram is not None:
                qemu = self._qemu(profile.name)
                private_directory(qemu.run_dir)
                write_private(qemu.nvram, nvram)
            self.store.put(record)
            self._states[profile.name] = S.NOT_ACTIVATED
            if incoming_migration:
                self._move(profile.name, S.MIGRATING_RUNNING if running
                           else S.MIGRATING_NOT_ACTIVATED)
            return self._view(record)

    async def set_migration_disabled(self, name: str, disabled: bool) -> Partition:
        """``chsyscfg -i migration_disabled=0|1``: allowed in any state, as on the HMC."""
        async with self._lock:
            record = self.store.get(name)
            profile = record.profile.model_copy(update={"migration_disabled": disabled})
            self.store.put(record.model_copy(update={"profile": profile}))
        return self.partition(name)

    def nvram(self, name: str) -> bytes | None:
        """The partition's UEFI variables, if it boots by UEFI and ever started."""
        self.store.get(name)
        path = self._qemu(name).nvram
        return path.read_bytes() if path.exists() else None

    def _check_nvram(self, profile: PartitionProfile, nvram: bytes) -> None:
        template = self.qemu_settings.uefi.vars_template
        size = template.stat().st_size if template.exists() else None
        if profile.firmware != Firmware.UEFI or len(nvram) != size:
            raise RequestInvalid(
                f"The UEFI variables given for partition {profile.name} ({len(nvram)} "
                f"bytes) do not fit managed system {self.system}: it takes them only for "
                f"a partition with firmware=uefi, of the size of its OVMF's ({template}, "
                f"{size} bytes). Install the same OVMF on both systems.", code="HSCLF134")

    async def ask_guest(self, name: str) -> GuestVerdict:
        """The guest's own verdict on migrating now; a partition not running has none.

        A partition booting its own operating system answers through its guest agent;
        one booting the system's kernel (the lab's image) through its serial hook.
        """
        record = self.store.get(name)
        if self._state(name) != S.RUNNING:
            return GuestVerdict(answered=False)
        qemu = self._qemu(name)
        if not record.profile.boots_by_firmware:
            return await qemu.ask_serial_hook()
        verdict = await qemu.ask_guest_agent()
        if verdict.os_version is not None:
            self._os_versions[name] = verdict.os_version
        return verdict

    # -- recovery -----------------------------------------------------------------------

    async def runtime(self, name: str) -> PartitionRuntime:
        record = self.store.get(name)
        state = self._state(name)
        qemu = self._qemu(name)
        view = PartitionRuntime(name=name, state=state,
                                incoming_migration=record.incoming_migration)
        if qemu.pid() is None:
            return view
        # Briefly: a QEMU that does not answer (stopped, hung) is reported without its
        # status, as one that is gone, and the console asking does not wait on it.
        try:
            return view.model_copy(update={
                "qemu_status": await qemu.status(QMP_PROBE_TIMEOUT_S),
                "migration_status": await qemu.migration_status(QMP_PROBE_TIMEOUT_S)})
        except HypervisorError:
            return view

    async def keep(self, name: str) -> Partition:
        """Recovery: the partition stays on this system, as it was before it left.

        A guest that still runs here goes on running; one whose memory was all sent
        (QEMU paused after the stream) runs again here, which is safe only once its copy
        on the other system is gone: the console removes that first.
        """
        record = self.store.get(name)
        state = self._state(name)
        qemu = self._qemu(name)
        if state == S.MIGRATING_NOT_ACTIVATED:
            self._move(name, S.NOT_ACTIVATED)
        elif state == S.MIGRATING_RUNNING and qemu.pid() is not None:
            if (await qemu.migration_status()).cancellable:
                await qemu.cancel_migration()
            if await qemu.status() != "running":
                await qemu.execute("cont")
            await qemu.wait_running(RESUME_TIMEOUT_S)
            if record.incoming_migration:
                await qemu.announce()
            self._move(name, S.RUNNING)
        elif state == S.MIGRATING_RUNNING:
            self._move(name, S.NOT_ACTIVATED)
        if record.incoming_migration:
            self.store.put(record.model_copy(update={"incoming_migration": None}))
        return self.partition(name)

    async def remove(self, name: str) -> None:
        """Delete a partition and everything it left here, ending its QEMU if any."""
        self.store.get(name)
        await self._forget_guest(name)
        qemu = self._qemu(name)
        await qemu.stop()
        console = self._console(name)
        await console.close()
        console.remove()
        shutil.rmtree(qemu.run_dir, ignore_errors=True)
        self.store.delete(name)
        self._states.pop(name, None)
        self._qemus.pop(name, None)
        self._consoles.pop(name, None)

    # -- activation -------------------------------------------------------------------

    async def activate(self, name: str) -> Partition:
        async with self._lock:
            record = self.store.get(name)
            self._require(name, S.NOT_ACTIVATED, S.ERROR)
            self._reserve(record.profile)
            self._move(name, S.STARTING)
        try:
            await self._start_qemu(record.profile, incoming=False)
        except BaseException:
            self._move(name, S.NOT_ACTIVATED)
            raise
        self.store.put(record.model_copy(update={"activated_once": True}))
        self._move(name, S.RUNNING)
        self._watch_guest(record.profile)
        return self.partition(name)

    async def shutdown(self, name: str, immediate: bool) -> Partition:
        self.store.get(name)
        self._require(name, S.RUNNING, S.STARTING, S.ERROR)
        self._move(name, S.SHUTTING_DOWN)
        await self._forget_guest(name)
        await self._qemu(name).stop(graceful_timeout=0.0 if immediate else SHUTDOWN_GRACE_S)
        await self._console(name).close()
        self._move(name, S.NOT_ACTIVATED)
        return self.partition(name)

    # -- migration, target side -------------------------------------------------------

    async def prepare_incoming(self, name: str, options: StreamOptions) -> str:
        """Start the shell QEMU waiting for the stream; returns where it listens (step 3)."""
        self._require(name, S.MIGRATING_RUNNING)
        record = self.store.get(name)
        qemu = await self._start_qemu(record.profile, incoming=True)
        await qemu.set_stream_options(options)
        return await qemu.listen_incoming()

    async def finish_incoming(self, name: str) -> IncomingFinished:
        """The partition is this system's now: wait until it runs, announce it (step 5)."""
        record = self.store.get(name)
        resumed_at = None
        if self._state(name) == S.MIGRATING_RUNNING:
            qemu = self._qemu(name)
            if qemu.pid() is None:
                raise WrongState(f"Partition {name} has no QEMU on managed system "
                                 f"{self.system}: its memory never arrived here.",
                                 code="HSCLF129")
            await qemu.wait_running(RESUME_TIMEOUT_S)
            resumed_at = await qemu.resume_time()
            await qemu.announce()
            self._move(name, S.RUNNING)
            self._watch_guest(record.profile, set_clock=True)
        elif self._state(name) == S.MIGRATING_NOT_ACTIVATED:
            self._move(name, S.NOT_ACTIVATED)
        self.store.put(record.model_copy(update={"incoming_migration": None}))
        return IncomingFinished(partition=self.partition(name), resumed_at=resumed_at)

    def merge_console(self, name: str, history: list[ConsoleLine]) -> None:
        self.store.get(name)
        self._console(name).merge(history)

    # -- migration, source side -------------------------------------------------------

    async def start_outgoing(self, name: str, uri: str, options: StreamOptions) -> None:
        self._require(name, S.RUNNING)
        self._move(name, S.MIGRATING_RUNNING)
        try:
            await self._qemu(name).migrate(uri, options)
        except BaseException:
            self._move(name, S.RUNNING)
            raise

    async def tune_outgoing(self, name: str, downtime_limit_ms: int) -> None:
        self._require(name, S.MIGRATING_RUNNING)
        await self._qemu(name).set_downtime_limit(downtime_limit_ms)

    async def start_postcopy(self, name: str) -> None:
        """Switch the stream to post-copy: from now on the partition runs on the target."""
        self._require(name, S.MIGRATING_RUNNING)
        await self._qemu(name).start_postcopy()

    async def outgoing_progress(self, name: str, wait: float,
                                known_status: str | None) -> MigrationProgress:
        self._require(name, S.MIGRATING_RUNNING)
        return await self._qemu(name).progress(wait, known_status)

    async def cancel_outgoing(self, name: str) -> Partition:
        """Stop sending; the partition goes on running here."""
        self._require(name, S.MIGRATING_RUNNING)
        qemu = self._qemu(name)
        await qemu.cancel_migration()
        await qemu.wait_running(RESUME_TIMEOUT_S)
        self._move(name, S.RUNNING)
        return self.partition(name)

    def mark_outgoing(self, name: str) -> Partition:
        """An inactive partition leaves: nothing runs, but it is migrating."""
        self._require(name, S.NOT_ACTIVATED)
        self._move(name, S.MIGRATING_NOT_ACTIVATED)
        return self.partition(name)

    def unmark_outgoing(self, name: str) -> Partition:
        self._require(name, S.MIGRATING_NOT_ACTIVATED)
        self._move(name, S.NOT_ACTIVATED)
        return self.partition(name)

    # -- internals --------------------------------------------------------------------

    async def check_storage(self, profile: PartitionProfile) -> StorageSeen:
        """Open every LUN ``profile`` would see here (step 2, and validation), each
        through the path the partition would use.

        Raises WrongState or SystemUnreachable naming the first LUN this system cannot
        reach.
        """
        paths = await self.storage.paths(profile)
        await asyncio.gather(*(self.storage.probe(disk) for disk in paths.disks))
        return StorageSeen(luns=tuple(disk.lun.name for disk in paths.disks),
                           lost_paths=tuple(paths.lost))

    async def _start_qemu(self, profile: PartitionProfile, incoming: bool) -> QemuPartition:
        # Again here: the profile may have been stored before its paths were refused.
        self.allowed.check(profile)
        qemu = self._qemu(profile.name)
        if profile.virtual_eth_adapters and self.switch is None:
            raise WrongState(f"Managed system {self.system} has no virtual switch (its agent "
                             f"runs without --vlans), so partition {profile.name}'s virtual "
                             f"Ethernet adapters have nowhere to plug in.", code="HSCLF620")
        paths = await self.storage.paths(profile)
        if profile.boots_by_firmware and not paths.boot:
            raise WrongState(
                f"Partition {profile.name} boots from the LUNs of its adapter in slot "
                f"{profile.boot_device_slot}, and managed system {self.system} sees none "
                f"there. Map its boot LUN ('openlpm san map').", code="HSCLF133")
        await qemu.start(profile, incoming=incoming, devices=[
            *storage_arguments(paths.disks, paths.boot), *port_arguments(profile)])
        if self.switch is not None:
            try:
                await plug_ports(self.switch, profile)
            except BaseException:
                await qemu.stop()
                raise
        self._console(profile.name).follow(qemu.console_socket, qemu.console_log)
        return qemu

    def _watch_guest(self, profile: PartitionProfile, set_clock: bool = False) -> None:
        """Ask a partition booting its own operating system what it runs, as soon as its
        guest agent answers; after a switch-over, first set its clock, which stood still
        while the partition was paused."""
        watcher = self._guest_watchers.get(profile.name)
        if profile.boots_by_firmware and (watcher is None or watcher.done()):
            self._guest_watchers[profile.name] = asyncio.create_task(
                self._follow_guest(profile.name, set_clock))

    async def _follow_guest(self, name: str, set_clock: bool) -> None:
        agent = self._qemu(name).guest_agent
        while self._state(name) == S.RUNNING:
            try:
                if set_clock:
                    await agent.set_time()
                    log.info("partition %s: guest clock set from the host", name)
                    set_clock = False
                self._os_versions[name] = await agent.os_version()
                return
            except (GuestAgentAbsent, GuestCommandFailed):
                await asyncio.sleep(GUEST_POLL_S)

    async def _forget_guest(self, name: str) -> None:
        self._os_versions.pop(name, None)
        task = self._guest_watchers.pop(name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _qemu(self, name: str) -> QemuPartition:
        if name not in self._qemus:
            self._qemus[name] = QemuPartition(name, self.run_root / name, self.qemu_settings)
        return self._qemus[name]

    def _console(self, name: str) -> ConsoleLog:
        if name not in self._consoles:
            private_directory(self.run_root)
            self._consoles[name] = ConsoleLog(self.run_root / f"{name}.console", self.system)
        return self._consoles[name]

    def _state(self, name: str) -> PartitionState:
        state = self._states.get(name, S.NOT_ACTIVATED)
        if state == S.RUNNING and self._qemu(name).pid() is None:
            # The guest powered itself off or QEMU died: the partition no longer runs.
            log.warning("QEMU of partition %s has ended", name)
            state = self._states[name] = S.NOT_ACTIVATED
        return state

    def _require(self, name: str, *allowed: PartitionState) -> None:
        state = self._state(name)
        if state not in allowed:
            wanted = " or ".join(s.value for s in allowed)
            raise WrongState(
                f"Partition {name} on managed system {self.system} is {state.value}; "
                f"the operation needs it {wanted}.", code="HSCLF123")

    def _move(self, name: str, new: PartitionState) -> None:
        old = self._state(name)
        if new not in TRANSITIONS[old]:
            raise WrongState(f"Partition {name} cannot go from {old.value} to {new.value}.",
                             code="HSCLF124")
        self._states[name] = new
        log.info("partition %s: %s -> %s", name, old.value, new.value)

    def _holds_resources(self, record: ProfileRecord) -> bool:
        return self._state(record.profile.name) not in (S.NOT_ACTIVATED,
                                                        S.MIGRATING_NOT_ACTIVATED)

    def _reserve(self, profile: PartitionProfile) -> None:
        free = self.free()
        if free.memory_mb < profile.desired_mem:
            raise InsufficientResources(
                f"Managed system {self.system} has {free.memory_mb} MB of memory available; "
                f"partition {profile.name} needs {profile.desired_mem} MB. Free memory on "
                f"{self.system} or choose another system.", code="HSCLF125")
        if free.cpus < profile.desired_procs:
            raise InsufficientResources(
                f"Managed system {self.system} has {free.cpus} processors available; "
                f"partition {profile.name} needs {profile.desired_procs}. Free processors on "
                f"{self.system} or choose another system.", code="HSCLF126")

    def _lpar_id_for(self, profile: PartitionProfile, preferred: int | None) -> int:
        taken = {r.profile.lpar_id for r in self.store.all()}
        if profile.lpar_id is None and preferred is not None and preferred not in taken:
            return preferred
        if profile.lpar_id is not None:
            if profile.lpar_id in taken:
                raise ObjectExists(
                    f"Partition id {profile.lpar_id} is already used on managed system "
                    f"{self.system}. Choose a free id or leave it out.", code="HSCLF127")
            return profile.lpar_id
        return next(i for i in range(1, len(taken) + 2) if i not in taken)

    def _view(self, record: ProfileRecord) -> Partition:
        state = self._state(record.profile.name)
        active = self._holds_resources(record)
        return Partition(
            profile=record.profile, state=state, activated_once=record.activated_once,
            curr_mem=record.profile.desired_mem if active else 0,
            curr_procs=record.profile.desired_procs if active else 0,
            os_version=self._os_versions.get(record.profile.name) if active else None)
