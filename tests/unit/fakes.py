"""In-memory stand-ins for the agents and movers the console drives, for unit tests.

``FakeAgent`` and ``FakeMover`` have the async methods of ``AgentClient`` and
``MoverClient`` that validation and the migration orchestrator call. They keep their
state in memory, follow the agent's partition state rules (so an orchestrator that asks
for something in the wrong state gets ``WrongState``, as from a real agent), record every
call, and raise the error scripted in ``fail_on`` when the named method is called —
before changing anything, as a request the server refused.

An outgoing migration plays a script of ``MigrationProgress`` samples, one per poll, at
once. A script that ends without a final status ("completed", "failed", "cancelled")
then stalls: each further poll waits the poll's ``wait`` seconds, as the agent does when
nothing changes, and repeats the last sample, so a wait-time (-w) limit can expire.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from openlpm import __version__
from openlpm.authority import CertificateAuthority
from openlpm.clients.seams import MigrationAgent, MigrationMover
from openlpm.errors import (
    InsufficientResources,
    ObjectExists,
    ObjectNotFound,
    OpenLpmError,
    WrongState,
    partition_not_found,
)
from openlpm.hmc.site.systems import Site
from openlpm.hmc.stores.inventory import Inventory, SystemEntry
from openlpm.model import (
    ChannelStats,
    ConsoleLine,
    CpuModel,
    GuestVerdict,
    IncomingFinished,
    MigrationProgress,
    MoverCertificate,
    MoverInfo,
    MoverProbe,
    Partition,
    PartitionProfile,
    PartitionRuntime,
    PartitionState,
    StorageSeen,
    StreamOptions,
    StreamStatus,
    SystemInfo,
)

S = PartitionState
FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
NOT_HOLDING = frozenset({S.NOT_ACTIVATED, S.MIGRATING_NOT_ACTIVATED})


# -- builders -------------------------------------------------------------------------


def profile(name: str = "lpar1", *, mem: int = 1024, procs: int = 2,
            lpar_id: int | None = 3, profile_name: str = "default") -> PartitionProfile:
    return PartitionProfile(name=name, lpar_id=lpar_id, profile_name=profile_name,
                            min_mem=min(mem, 256), desired_mem=mem, max_mem=mem * 2,
                            min_procs=1, desired_procs=procs, max_procs=max(procs, 4))


def mover_of(system: str, name: str = "msp1") -> MoverInfo:
    return MoverInfo(name=name, control_url=f"http://{system}-{name}.test:7100",
                     data_address=f"{system}.test:7101")


def completing_stream(total: int = 1_000_000) -> list[MigrationProgress]:
    """setup -> two pre-copy passes -> device (switch-over) -> completed."""
    return [
        MigrationProgress(status="setup"),
        MigrationProgress(status="active", transferred=400_000, remaining=600_000,
                          total=total, rate_bps=1e8, passes=1),
        MigrationProgress(status="active", transferred=900_000, remaining=150_000,
                          total=total, rate_bps=1e8, passes=2),
        MigrationProgress(status="device", transferred=1_040_000, remaining=10_000,
                          total=total, rate_bps=1e8, passes=3),
        MigrationProgress(status="completed", transferred=1_050_000, remaining=0,
                          total=total, rate_bps=1e8, passes=3, downtime_ms=42,
                          total_time_ms=1200),
    ]


def stalled_stream() -> list[MigrationProgress]:
    """Pre-copy that never converges: the last sample repeats for ever."""
    return [
        MigrationProgress(status="setup"),
        MigrationProgress(status="active", transferred=300_000, remaining=700_000,
                          total=1_000_000, passes=1),
    ]


def failing_stream(error: str = "Unable to write to socket: Broken pipe") \
        -> list[MigrationProgress]:
    """Pre-copy that QEMU gives up. Like QEMU's query-migrate, a failed sample carries
    only its status and error, no RAM counters."""
    return [
        MigrationProgress(status="setup"),
        MigrationProgress(status="active", transferred=500_000, remaining=500_000,
                          total=1_000_000, passes=1),
        MigrationProgress(status="failed", error=error),
    ]


# -- the call log and scripted failures -----------------------------------------------


class Scripted:
    def __init__(self, fail_on: Mapping[str, OpenLpmError] | None) -> None:
        self.fail_on: dict[str, OpenLpmError] = dict(fail_on or {})
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _call(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        error = self.fail_on.get(method)
        if error is not None:
            raise error

    def called(self, method: str) -> list[tuple[Any, ...]]:
        """The arguments of every call of ``method``, in order."""
        return [args for name, args in self.calls if name == method]

    @property
    def methods_called(self) -> set[str]:
        return {name for name, _ in self.calls}


# -- agent ----------------------------------------------------------------------------


@dataclass
class Hosted:
    """A partition as a fake agent keeps it."""

    profile: PartitionProfile
    state: PartitionState
    activated_once: bool = True
    console: list[ConsoleLine] = field(default_factory=list)

    def view(self) -> Partition:
        holding = self.state not in NOT_HOLDING
        return Partition(profile=self.profile, state=self.state,
                         activated_once=self.activated_once,
                         curr_mem=self.profile.desired_mem if holding else 0,
                         curr_procs=self.profile.desired_procs if holding else 0)


class FakeAgent(Scripted):
    """One managed system: its resources, partitions, movers and outgoing streams."""

    def __init__(self, name: str, *, cpus: int = 16, memory_mb: int = 16384,
                 accel: str = "kvm", movers: Iterable[MoverInfo] | None = None,
                 outgoing: list[MigrationProgress] | None = None,
                 fail_on: Mapping[str, OpenLpmError] | None = None) -> None:
        super().__init__(fail_on)
        self.name = name
        self.base_url = f"http://{name}.test:7000"
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.accel = accel
        self.movers = tuple(movers if movers is not None else [mover_of(name)])
        self.script = list(outgoing if outgoing is not None else completing_stream())
        self.hosted: dict[str, Hosted] = {}
        self.incoming_uris: dict[str, str] = {}  # where prepare_incoming said QEMU waits
        self.nvrams: dict[str, bytes] = {}  # UEFI variables, by partition
        self._streams: dict[str, list[MigrationProgress]] = {}
        self._last_sample: dict[str, MigrationProgress] = {}
        self.cpu_models_offered = [CpuModel(name="qemu64"), CpuModel(name="max")]
        self.max_active_migrations = 16
        self.silent_qemus: set[str] = set()  # partitions whose QEMU does not answer
        self.guest = GuestVerdict(answered=True)
        # How far this host's clock is ahead of the console's; when its QEMU paused the
        # guest for a switch-over (that clock's reading).
        self.clock_offset_s = 0.0
        self.paused_at: float | None = None
        self.resume_delay_s = 0.0

    # -- set-up by tests ---------------------------------------------------------------

    def add(self, profile: PartitionProfile, state: PartitionState = S.RUNNING, *,
            activated_once: bool = True, console: Iterable[str] = ()) -> Hosted:
        hosted = Hosted(profile, state, activated_once,
                        [ConsoleLine(t=float(i + 1), text=text, system=self.name)
                         for i, text in enumerate(console)])
        self.hosted[profile.name] = hosted
        return hosted

    def state_of(self, name: str) -> PartitionState:
        return self._get(name).state

    # -- what a migration asks of an agent (clients.seams.MigrationAgent) ----------------

    async def clock(self) -> float:
        self._call("clock")
        return time.time() + self.clock_offset_s

    async def system(self, timeout: float | None = None) -> SystemInfo:
        self._call("system")
        holding = [h.profile for h in self.hosted.values() if h.state not in NOT_HOLDING]
        return SystemInfo(
            name=self.name, cpus=self.cpus, memory_mb=self.memory_mb,
            free_cpus=self.cpus - sum(p.desired_procs for p in holding),
            free_memory_mb=self.memory_mb - sum(p.desired_mem for p in holding),
            accel=self.accel, qemu_version="9.2.0", agent_version=__version__,
            max_active_migrations=self.max_active_migrations, movers=self.movers)

    async def cpu_models(self) -> list[CpuModel]:
        self._call("cpu_models")
        return self.cpu_models_offered

    async def ask_guest(self, name: str) -> GuestVerdict:
        self._call("ask_guest", name)
        return self.guest

    async def partitions(self) -> list[Partition]:
        self._call("partitions")
        return [h.view() for h in self.hosted.values()]

    async def partition(self, name: str) -> Partition:
        self._call("partition", name)
        return self._get(name).view()

    async def check_storage(self, profile: PartitionProfile) -> StorageSeen:
        self._call("check_storage", profile)
        return StorageSeen(luns=())

    async def runtime(self, name: str) -> PartitionRuntime:
        """A QEMU runs for a running or migrating partition; it reports no status when
        the test made it silent (``silent_qemus``), as the real agent's does when it
        does not answer."""
        self._call("runtime", name)
        state = self._get(name).state
        runs = state in (S.RUNNING, S.MIGRATING_RUNNING) and name not in self.silent_qemus
        return PartitionRuntime(name=name, state=state, qemu_status="running" if runs else None)

    async def keep(self, name: str) -> Partition:
        self._call("keep", name)
        return self._get(name).view()

    async def nvram(self, name: str) -> bytes | None:
        self._call("nvram", name)
        return self.nvrams.get(name)

    async def create(self, profile: PartitionProfile, incoming_migration: str | None = None,
                     running: bool = False, preferred_lpar_id: int | None = None,
                     nvram: bytes | None = None) -> Partition:
        self._call("create", profile, incoming_migration, running)
        if nvram is not None:
            self.nvrams[profile.name] = nvram
        if profile.name in self.hosted:
            raise ObjectExists(f"A partition named {profile.name} already exists on "
                               f"managed system {self.name}.", code="HSCLF122")
        taken = {h.profile.lpar_id for h in self.hosted.values()}
        if profile.lpar_id in taken:
            raise ObjectExists(f"Partition id {profile.lpar_id} is already used on "
                               f"{self.name}.", code="HSCLF127")
        if profile.lpar_id is None:
            free_id = preferred_lpar_id if preferred_lpar_id not in (None, *taken) else \
                next(i for i in range(1, len(taken) + 2) if i not in taken)
            profile = profile.model_copy(update={"lpar_id": free_id})
        if incoming_migration and running:
            free = (await self.system()).free_memory_mb
            if free < profile.desired_mem:
                raise InsufficientResources(f"{self.name} has {free} MB available.",
                                            code="HSCLF125")
        state = S.NOT_ACTIVATED
        if incoming_migration:
            state = S.MIGRATING_RUNNING if running else S.MIGRATING_NOT_ACTIVATED
        hosted = Hosted(profile, state, activated_once=incoming_migration is not None)
        self.hosted[profile.name] = hosted
        return hosted.view()

    async def remove(self, name: str) -> None:
        self._call("remove", name)
        self._get(name)
        del self.hosted[name]

    async def prepare_incoming(self, name: str, options: StreamOptions) -> str:
        self._call("prepare_incoming", name)
        self._require(name, S.MIGRATING_RUNNING)
        self.incoming_uris[name] = f"unix:/run/{self.name}/{name}/incoming.sock"
        return self.incoming_uris[name]

    async def finish_incoming(self, name: str) -> IncomingFinished:
        self._call("finish_incoming", name)
        hosted = self._get(name)
        resumed_at = None
        if hosted.state == S.MIGRATING_RUNNING:
            await asyncio.sleep(self.resume_delay_s)  # the last pages and devices load
            hosted.state = S.RUNNING
            resumed_at = time.time() + self.clock_offset_s
        elif hosted.state == S.MIGRATING_NOT_ACTIVATED:
            hosted.state = S.NOT_ACTIVATED
        return IncomingFinished(partition=hosted.view(), resumed_at=resumed_at)

    async def start_outgoing(self, name: str, uri: str, options: StreamOptions) -> None:
        self._call("start_outgoing", name, uri)
        self._require(name, S.RUNNING)
        self._get(name).state = S.MIGRATING_RUNNING
        self._streams[name] = list(self.script)
        self.paused_at = None

    async def tune_outgoing(self, name: str, downtime_limit_ms: int) -> None:
        self._call("tune_outgoing", name, downtime_limit_ms)

    async def start_postcopy(self, name: str) -> None:
        self._call("start_postcopy", name)

    async def outgoing_progress(self, name: str, wait: float = 0.0,
                                known_status: str | None = None) -> MigrationProgress:
        self._call("outgoing_progress", name, wait, known_status)
        self._require(name, S.MIGRATING_RUNNING)
        samples = self._streams[name]
        await asyncio.sleep(0)  # a round trip: the console's other tasks run meanwhile
        if samples:
            sample = samples.pop(0)
            status = sample.status
            if status.switching_over or status.postcopy or status == StreamStatus.COMPLETED:
                # QEMU stopped the guest for the switch-over: as the real agent, the
                # sample carries the STOP's stamp on this host's clock.
                self.paused_at = self.paused_at or time.time() + self.clock_offset_s
                sample = sample.model_copy(update={"paused_at": self.paused_at})
            self._last_sample[name] = sample
        elif self._last_sample[name].status not in FINAL_STATUSES:
            await asyncio.sleep(wait)  # nothing changes: the agent waits, then answers
        return self._last_sample[name]

    async def cancel_outgoing(self, name: str) -> None:
        self._call("cancel_outgoing", name)
        self._require(name, S.MIGRATING_RUNNING)
        self._get(name).state = S.RUNNING

    async def mark_outgoing(self, name: str) -> None:
        self._call("mark_outgoing", name)
        self._require(name, S.NOT_ACTIVATED)
        self._get(name).state = S.MIGRATING_NOT_ACTIVATED

    async def unmark_outgoing(self, name: str) -> None:
        self._call("unmark_outgoing", name)
        self._require(name, S.MIGRATING_NOT_ACTIVATED)
        self._get(name).state = S.NOT_ACTIVATED

    async def console(self, name: str, lines: int) -> list[ConsoleLine]:
        self._call("console", name, lines)
        return list(self._get(name).console[-lines:])

    async def final_console(self, name: str, lines: int) -> list[ConsoleLine]:
        self._call("final_console", name, lines)
        return list(self._get(name).console[-lines:])

    async def merge_console(self, name: str, history: list[ConsoleLine]) -> None:
        self._call("merge_console", name, history)
        hosted = self._get(name)
        unique = {(line.t, line.text): line for line in [*history, *hosted.console]}
        hosted.console = sorted(unique.values(), key=lambda line: line.t)

    async def close(self) -> None:
        pass

    # -- internals ---------------------------------------------------------------------

    def _get(self, name: str) -> Hosted:
        try:
            return self.hosted[name]
        except KeyError:
            raise partition_not_found([name], self.name) from None

    def _require(self, name: str, *allowed: PartitionState) -> None:
        state = self._get(name).state
        if state not in allowed:
            raise WrongState(f"Partition {name} on {self.name} is {state.value}.",
                             code="HSCLF123")


# -- mover ----------------------------------------------------------------------------


@dataclass
class FakeChannel:
    migration_id: str
    token: str
    direction: str
    address: str  # incoming: where it forwards to; outgoing: the peer mover
    encrypted: bool


class FakeMover(Scripted):
    """One mover service, with the channels the console opened on it."""

    def __init__(self, info: MoverInfo,
                 fail_on: Mapping[str, OpenLpmError] | None = None) -> None:
        super().__init__(fail_on)
        self.mover_info = info
        self.control_url = info.control_url
        self.channels: dict[str, FakeChannel] = {}
        self.clients_built = 0  # how many MoverClient(url) the console made for it
        self.client_closed = False
        self.local_uris: dict[str, str] = {}  # the socket each open gave, by migration id

    async def info(self) -> MoverInfo:
        self._call("info")
        return self.mover_info

    async def expect(self, migration_id: str, token: str, partition: str,
                     encrypted: bool) -> None:
        self._call("expect", migration_id, token, partition, encrypted)
        self._add(FakeChannel(migration_id, token, "incoming", partition, encrypted))

    async def open(self, migration_id: str, token: str, peer: str, encrypted: bool) -> str:
        self._call("open", migration_id, token, peer, encrypted)
        self._add(FakeChannel(migration_id, token, "outgoing", peer, encrypted))
        self.local_uris[migration_id] = f"unix:/run/{self.mover_info.name}/{migration_id}.sock"
        return self.local_uris[migration_id]

    async def stats(self, migration_id: str) -> ChannelStats:
        self._call("stats", migration_id)
        return self._stats(self._get(migration_id))

    async def close_channel(self, migration_id: str) -> ChannelStats:
        self._call("close_channel", migration_id)
        return self._stats(self.channels.pop(self._get(migration_id).migration_id))

    async def close(self) -> None:
        self.client_closed = True

    def _add(self, channel: FakeChannel) -> None:
        if channel.migration_id in self.channels:
            raise ObjectExists(f"The mover already has a channel for migration "
                               f"{channel.migration_id}.", code="HSCLF142")
        self.channels[channel.migration_id] = channel

    def _get(self, migration_id: str) -> FakeChannel:
        try:
            return self.channels[migration_id]
        except KeyError:
            raise ObjectNotFound(f"The mover has no channel for migration {migration_id}.",
                                 code="HSCLF141") from None

    @staticmethod
    def _stats(channel: FakeChannel) -> ChannelStats:
        return ChannelStats(migration_id=channel.migration_id, direction=channel.direction,
                            connections=0, bytes_out=0, bytes_in=0,
                            encrypted=channel.encrypted)


# -- wiring into the console ----------------------------------------------------------


class FakeSite(Site):
    """A site whose managed systems are fake agents, registered in its inventory."""

    def __init__(self, inventory: Inventory, agents: Iterable[FakeAgent],
                 authority: CertificateAuthority) -> None:
        super().__init__(inventory, authority)
        self.fakes = {agent.name: agent for agent in agents}
        for agent in self.fakes.values():
            inventory.add_system(SystemEntry(name=agent.name, agent_url=agent.base_url))
            agent.movers = tuple(certified(m, authority) for m in agent.movers)

        self.cut_off: set[str] = set()  # mover data addresses no probe reaches

    def agent(self, system: str) -> Any:
        self.inventory.system(system)  # an unknown system fails as with the real Site
        return self.fakes[system]

    def mover(self, control_url: str) -> Any:
        return FakeProber(self.cut_off)


@dataclass
class FakeProber:
    """A mover answering probes: every peer is reachable but those cut off."""

    cut_off: set[str]

    async def probe(self, peer: str, encrypted: bool) -> MoverProbe:
        if peer in self.cut_off:
            return MoverProbe(peer=peer, reachable=False, error="No route to host")
        return MoverProbe(peer=peer, reachable=True, encrypted=encrypted, round_trip_ms=0.1)


def certified(mover: MoverInfo, authority: CertificateAuthority) -> MoverInfo:
    """The mover as the console's enrollment leaves it: holding a certificate."""
    return mover.model_copy(update={"certificate": MoverCertificate(
        subject=f"CN={mover.name}", authority="CN=hmc mover authority",
        authority_fingerprint=authority.fingerprint, expires=time.time() + 86400)})


def install_movers(monkeypatch: pytest.MonkeyPatch,
                   agents: Iterable[FakeAgent]) -> dict[str, FakeMover]:
    """Make the orchestrator's ``MoverClient(url)`` the fake mover of that url.

    Returns the fake movers of the agents' systems by control url.
    """
    movers = {info.control_url: FakeMover(info) for agent in agents for info in agent.movers}

    def build(base_url: str, timeout: float = 30.0, tls: object = None,
              keepalive_s: float = 0.0) -> FakeMover:
        movers[base_url].clients_built += 1
        return movers[base_url]

    monkeypatch.setattr("openlpm.hmc.site.systems.MoverClient", build)
    return movers


def satisfy_the_seams(agent: FakeAgent, mover: FakeMover) -> tuple[MigrationAgent, MigrationMover]:
    """Where mypy checks that the fakes offer what the real clients do (clients.seams)."""
    checked_agent: MigrationAgent = agent
    checked_mover: MigrationMover = mover
    return checked_agent, checked_mover
