"""pgbench benchmark: a live PostgreSQL database through a move, bare QEMU against openlpm.

One lab carries every run. Two partitions of the same definition (768 MiB, 1 vCPU, a
virtio NIC on VLAN 10, the boot LUN on the SAN through a virtual FC adapter) boot the
same Debian 12 disk (``openlpm image build --os debian12``, one LUN copied from it for
each) and serve PostgreSQL to the lab's client:

(a) bare QEMU → QEMU, the baseline: ``dbq`` at 198.18.10.32 runs in QEMUs started by
    this script with exactly the agent's command line (``QemuPartition.command`` with the
    SAN disk arguments of ``agent.storage`` and the NIC arguments of ``net.ports``, as
    the agent builds them), in the systems' namespaces, its tap plugged into the
    system's VLAN 10 bridge by the agent's own ``VirtualSwitch``. A move starts a target
    with ``-incoming`` in the other system, which opens the same LUN as the same WWPN
    (the SAN maps by WWPN and the lab's filesystem is shared), and QMP ``migrate``
    streams straight from the source QEMU to the target's address over the lab link,
    with the bandwidth cap lifted as the agent lifts it;
(b) openlpm: ``db1`` at 198.18.10.31, made by ``mksyscfg`` and moved by ``migrlpar -o m``
    through the console, the agents and the mover services (TLS between the movers, the
    systems' default).

Both guests stay booted for the whole bench (a boot takes a minute or more under TCG)
and move back and forth, sys1 → sys2 then back, so both paths move in both directions
equally often. Both run all the time, so each path's measurement shares the machine
with the other's idle guest. The paths alternate (a b, b a, ...).

Why a guest of its own for the baseline, not openlpm's partition driven by hand: the
agent holds the partition's QMP socket (QEMU serves one client at a time) and would
see a QEMU it does not know of on the target. The bench checks that the two running
QEMU command lines are the same but for names, paths, addresses and MACs (the JSON's
``command_line_differences``). What still differs is what openlpm does by design: its
target opens the LUN as the partition's second WWPN once the SAN mapping moves, it
announces the partition and sets the guest's clock after the switch-over, and its
stream is encrypted; the baseline relies on QEMU's own announce.

Each measurement runs ``pgbench -c 4 -j 2 -T --duration`` against the path's guest from
the client namespace, logging every transaction (``-l``: completion time and latency),
and starts the move ``--lead`` seconds in. From the log: transactions per second in the
10 s before the move began, during the move (command start to end: QMP ``migrate`` to
the target's ``RESUME`` for (a), the whole ``migrlpar`` command for (b)), during the
stream alone (``migrate`` to ``completed`` for (a), step 4 of the console's journal for
(b)) and in the 10 s after it ended; the longest latency of a transaction running at any
moment of the move, and the longest time no transaction completed around it (the stall
the clients saw). QEMU's own downtime comes with it. The ratios (b)/(a) of the medians
are the figure, not the absolute numbers (TCG, two cores).

Usage: python bench/pgbench.py [--runs N] [--duration 60] [--lead 15] [--scale 4] [--out F]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import migration as m
from benchlab import BenchError, run_bench, run_cli, say
from rich.console import Console
from rich.table import Table

from openlpm.agent.qemu import STREAM_BANDWIDTH, BootImage, QemuPartition, QemuSettings
from openlpm.cli.commands import PROFILE_ATTRIBUTES, parse_attributes, profile_from
from openlpm.clients.guest_agent import GuestAgent, GuestAgentAbsent, GuestCommandFailed
from openlpm.lab import network, site
from openlpm.lab.image import KERNEL_ARGS, PartitionImage
from openlpm.lab.os_image import OsImage, build_os_image
from openlpm.model import MigrationStep, PartitionProfile
from openlpm.net.ports import port_name, with_macs
from openlpm.net.ports import qemu_arguments as port_arguments
from openlpm.net.switch import VirtualSwitch

PREFIX = "pgb"
SYSTEMS = (site.system_name(1), site.system_name(2))
VLAN = 10
OS_NAME = "debian12"
QEMU_BINARY = "qemu-system-x86_64"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "pgbench.json"
QEMU_PATH, OPENLPM_PATH = "qemu", "openlpm"
PATH_LABELS = {QEMU_PATH: "(a) QEMU → QEMU", OPENLPM_PATH: "(b) migrlpar -o m"}
PATH_LETTERS = {QEMU_PATH: "(a)", OPENLPM_PATH: "(b)"}
WINDOW_S = 10.0  # the windows before and after the move
SYSTEM_MEMORY_MB = 4096
BOOT_TIMEOUT_S = 600.0
MOVE_TIMEOUT_S = 300.0
SETTLE_S = 5.0  # quiet between measurements
# A partition id of its own for the bare guest: its tap (lp90s2) must not be one the
# agent gives a partition of the same system.
BARE_LPAR_ID = 90


@dataclass(frozen=True)
class Guest:
    """One of the two partitions: its name, address, WWPN pair and boot LUN."""

    name: str
    address: str
    wwpns: tuple[str, str]
    memory_mb: int

    @property
    def lun(self) -> str:
        return f"{self.name}root"

    @property
    def attributes(self) -> str:
        """The ``mksyscfg -i`` attributes (the bare guest's profile is parsed from the
        same string, by mksyscfg's own parser)."""
        mem = self.memory_mb
        return (f"name={self.name},profile_name=default,min_mem=512,desired_mem={mem},"
                f"max_mem={max(mem, 1024)},min_procs=1,desired_procs=1,max_procs=1,"
                f"virtual_eth_adapters=2/{VLAN},virtual_fc_adapters=4/{self.wwpns[0]}/"
                f"{self.wwpns[1]},boot_device_slot=4,"
                f"kernel_args=openlpm.ip={self.address}/24")


@dataclass(frozen=True)
class Move:
    """When a move ran, on the host's clock (epoch seconds, as pgbench's log)."""

    began: float
    ended: float
    stream_began: float
    stream_ended: float
    downtime_ms: float
    bytes_sent: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """One measured move under pgbench.

    move_s: the move as its user sees it: QMP migrate to the target's RESUME for (a), the
    whole migrlpar command for (b). stream_s: QEMU's stream alone: migrate to the
    source's "completed" for (a), step 4 (Migrate) of the console's journal for (b).
    tps_*: transactions completed in the window over its length: the 10 s before the move
    began, the move, the stream, the 10 s after the move ended (None if pgbench ended
    sooner). max_latency_ms: the longest transaction running at any moment of the move.
    stall_ms: the longest time without a completed transaction, from 1 s before the move
    to 1 s after it. downtime_ms: QEMU's own, measured by the source.
    """

    path: str
    run: int
    direction: str
    move_s: float
    stream_s: float
    downtime_ms: float
    mib_sent: float
    tps_before: float
    tps_during: float
    tps_stream: float
    tps_after: float | None
    max_latency_ms: float | None
    stall_ms: float
    transactions: int
    failed: int | None
    pgbench_exit: int | None
    detail: dict[str, Any] = field(default_factory=dict)


# -- what pgbench's transaction log says --------------------------------------------------


# (completion time, latency in seconds) of one transaction.
Transaction = tuple[float, float]


def read_transactions(directory: Path) -> list[Transaction]:
    """Every transaction of ``pgbench -l``'s logs (one file per thread), by completion.

    A line is ``client_id transaction_no latency_us script_no epoch_s epoch_us ...``;
    failed or skipped transactions (not a number in the latency's place) are left out.
    """
    done: list[Transaction] = []
    for log in directory.glob("pgbench_log.*"):
        for line in log.read_text().splitlines():
            words = line.split()
            if len(words) >= 6 and words[2].isdigit():
                done.append((int(words[4]) + int(words[5]) / 1e6, int(words[2]) / 1e6))
    return sorted(done)


def tps(done: list[Transaction], start: float, end: float) -> float:
    if end <= start:
        return 0.0
    return sum(1 for t, _ in done if start <= t < end) / (end - start)


def analyse(done: list[Transaction], move: Move) -> dict[str, Any]:
    """The figures of one move from its pgbench log (see Sample)."""
    last = done[-1][0] if done else 0.0
    during = [lat for t, lat in done if t >= move.began and t - lat <= move.ended]
    around = [move.began - 1.0] + [t for t, _ in done
                                   if move.began - 1.0 < t < move.ended + 1.0] + \
        [move.ended + 1.0]
    return {
        "tps_before": tps(done, move.began - WINDOW_S, move.began),
        "tps_during": tps(done, move.began, move.ended),
        "tps_stream": tps(done, move.stream_began, move.stream_ended),
        "tps_after": tps(done, move.ended, move.ended + WINDOW_S)
        if last >= move.ended + WINDOW_S else None,
        "max_latency_ms": max(during) * 1000 if during else None,
        "stall_ms": max(b - a for a, b in pairwise(around)) * 1000,
        "transactions": len(done),
    }


def stall_at(done: list[Transaction], move: Move) -> float:
    """When the longest stall (see analyse) began, in seconds from the move's start."""
    around = [move.began - 1.0] + [t for t, _ in done
                                   if move.began - 1.0 < t < move.ended + 1.0] + \
        [move.ended + 1.0]
    return max(pairwise(around), key=lambda ab: ab[1] - ab[0])[0] - move.began


def per_second(done: list[Transaction], origin: float) -> dict[int, int]:
    """Transactions completed in each second, counted from ``origin`` (the move's start)."""
    counts: dict[int, int] = {}
    for t, _ in done:
        second = int((t - origin) // 1)
        counts[second] = counts.get(second, 0) + 1
    return dict(sorted(counts.items()))


# -- the lab, the disk and the guests -----------------------------------------------------


@dataclass
class Lab:
    state: site.LabState
    image: OsImage
    password: str
    qemu: QemuSettings
    http: httpx.AsyncClient


async def cli(lab: Lab, *argv: str, check: bool = True) -> str:
    """Run an openlpm or HMC-compatible command against the lab; its output."""
    return await run_cli(lab.state, *argv, check=check)


async def make_luns(lab: Lab, guests: tuple[Guest, ...]) -> None:
    """Each guest's boot LUN, a copy of the image (which the image build puts in the
    SAN's import directory)."""
    for guest in guests:
        say(f"LUN {guest.lun}: a copy of {lab.image.disk}")
        await cli(lab, "openlpm", "san", "mklun", "-l", guest.lun, "--source",
                  lab.image.disk.name)
        await cli(lab, "openlpm", "san", "map", "-l", guest.lun, "--wwpn", guest.wwpns[0])


def namespace(system: str) -> str:
    return f"{PREFIX}-{system}"


def guest_agent(run_dir: Path, name: str) -> GuestAgent:
    return GuestAgent(run_dir / "qga.sock", name)


async def wait_booted(agent: GuestAgent) -> dict[str, str]:
    """Wait for systemd to finish starting the guest; its state and boot id."""
    async with asyncio.timeout(BOOT_TIMEOUT_S):
        while True:
            try:
                state = await agent.run("/bin/systemctl", "is-system-running", "--wait",
                                        timeout=BOOT_TIMEOUT_S)
                break
            except (GuestAgentAbsent, GuestCommandFailed):
                await asyncio.sleep(2)
    return {"systemd": state.out.strip(), "boot_id": await boot_id(agent)}


async def boot_id(agent: GuestAgent) -> str:
    return (await agent.run("/bin/cat", "/proc/sys/kernel/random/boot_id")).out.strip()


# -- (a) bare QEMU ------------------------------------------------------------------------


# What runs in a system's namespace to get the bare guest's SAN disk arguments: the
# agent's own SanAccess (fabric login, the LUNs the WWPN sees) and qemu_arguments; it
# reaches the SAN as an agent does, with the hosts key, checking the SAN's certificate
# against the console's authority.
SAN_DEVICES = """
import asyncio, json, sys
from pathlib import Path
from openlpm.agent.storage import SanAccess, qemu_arguments
from openlpm.model import PartitionProfile, SanSettings
from openlpm.service import read_key_file

async def main():
    profile = PartitionProfile.model_validate_json(sys.argv[1])
    access = SanAccess(sys.argv[2], Path(sys.argv[4]))
    await access.use(SanSettings(url=sys.argv[3], hosts_key=read_key_file(Path(sys.argv[5])),
                                 authority=Path(sys.argv[6]).read_text()))
    try:
        paths = await access.paths(profile)
        print(json.dumps(qemu_arguments(paths.disks, paths.boot)))
    finally:
        await access.close()

asyncio.run(main())
"""


class BareGuest:
    """The baseline's partition: QEMUs of the bench, migrated by QMP alone."""

    def __init__(self, guest: Guest, settings: QemuSettings, vlans: tuple[int, ...]) -> None:
        profile = profile_from(parse_attributes(guest.attributes, PROFILE_ATTRIBUTES,
                                                "mksyscfg -r lpar"))
        self.guest = guest
        self.profile: PartitionProfile = with_macs(profile).model_copy(
            update={"lpar_id": BARE_LPAR_ID})
        self.settings = settings
        self.vlans = vlans
        self.root = site.LabState.directory(PREFIX) / "baseline"  # lab down ends its QEMUs
        self.devices: list[str] = []
        self.qemu: QemuPartition | None = None
        self.system = SYSTEMS[0]
        self._started = 0

    @property
    def agent(self) -> GuestAgent:
        assert self.qemu is not None
        return self.qemu.guest_agent

    async def prepare(self) -> None:
        """Log in to the SAN as the agent would, in sys1's namespace."""
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", namespace(SYSTEMS[0]), sys.executable, "-c", SAN_DEVICES,
            self.profile.model_dump_json(), SYSTEMS[0], site.SAN_URL, str(self.root / "fabric"),
            str(site.san_hosts_key_file(PREFIX)),
            str(site.san_tls_dir(PREFIX) / "console-authority.crt"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise BenchError(f"the bare guest's SAN login failed: {out.decode()[-800:]}")
        self.devices = json.loads(out.decode().strip().splitlines()[-1])

    async def start(self, system: str, incoming: bool) -> QemuPartition:
        """Start a QEMU of the guest in ``system``'s namespace; its tap on VLAN 10."""
        self._started += 1
        qemu = QemuPartition(self.profile.name, self.root / "run" / f"{system}-{self._started}",
                             self.settings)
        qemu.run_dir.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", namespace(system),
            *qemu.command(self.profile, incoming, [*self.devices, *port_arguments(self.profile)]),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise BenchError(f"QEMU did not start in {system}: {out.decode(errors='replace')}")
        switch = VirtualSwitch(network.NODE_INTERFACE, self.vlans, netns=namespace(system))
        for adapter in self.profile.virtual_eth_adapters:
            await asyncio.to_thread(switch.connect, port_name(self.profile, adapter),
                                    adapter.port_vlan_id)
        return qemu

    async def boot(self) -> dict[str, str]:
        self.qemu = await self.start(self.system, incoming=False)
        return await wait_booted(self.agent)

    async def move(self) -> Move:
        """Migrate to the other system, QEMU to QEMU; the old QEMU quits after."""
        assert self.qemu is not None
        there = SYSTEMS[1 - SYSTEMS.index(self.system)]
        target = await self.start(there, incoming=True)
        source_qmp = await m.Monitor.open(self.qemu)
        target_qmp = await m.Monitor.open(target)
        try:
            move = await migrate_direct(source_qmp, target_qmp,
                                        site.system_node(PREFIX, SYSTEMS.index(there) + 1)
                                        .address)
        except BaseException:
            await target_qmp.close()
            await target.stop()
            raise
        finally:
            await source_qmp.close()
        await target_qmp.close()
        await self.qemu.stop()
        self.qemu, self.system = target, there
        return move

    async def stop(self) -> None:
        if self.qemu is not None:
            await self.qemu.stop()


async def migrate_direct(source: m.Monitor, target: m.Monitor, address: str) -> Move:
    await target.execute("migrate-incoming", {"uri": f"tcp:{address}:0"})
    port = (await target.execute("query-migrate"))["socket-address"][0]["port"]
    await source.execute("migrate-set-parameters", {"max-bandwidth": STREAM_BANDWIDTH})
    began = time.time()
    await source.execute("migrate", {"uri": f"tcp:{address}:{port}"})
    await source.wait_event(m.migration_ended, MOVE_TIMEOUT_S)
    completed = time.time()
    info = await m.final_migration_info(source)
    if info["status"] != "completed":
        raise BenchError(f"QEMU's own migration ended {info['status']}: "
                         f"{info.get('error-desc')}")
    _, resumed = await target.wait_event(lambda e: e["event"] == "RESUME", 30.0)
    ended = time.time()
    stopped = source.first("STOP")
    return Move(began=began, ended=ended, stream_began=began, stream_ended=completed,
                downtime_ms=float(info["downtime"]),
                bytes_sent=int(info["ram"]["transferred"]), detail={
                    "query_migrate": info,
                    "stop_to_resume_ms": (m.qemu_time(resumed) - m.qemu_time(stopped)) * 1000
                    if stopped else None})


# -- (b) migrlpar -o m --------------------------------------------------------------------


class OpenlpmGuest:
    """The partition openlpm runs and moves."""

    def __init__(self, lab: Lab, guest: Guest) -> None:
        self.lab = lab
        self.guest = guest
        self.system = SYSTEMS[0]

    @property
    def agent(self) -> GuestAgent:
        run_dir = site.LabState.directory(PREFIX) / self.system / "run" / self.guest.name
        return guest_agent(run_dir, self.guest.name)

    async def boot(self) -> dict[str, str]:
        await cli(self.lab, "mksyscfg", "-r", "lpar", "-m", self.system, "-i",
                  self.guest.attributes)
        await cli(self.lab, "chsysstate", "-r", "lpar", "-m", self.system, "-o", "on",
                  "-n", self.guest.name, "-f", "default")
        return await wait_booted(self.agent)

    async def move(self) -> Move:
        there = SYSTEMS[1 - SYSTEMS.index(self.system)]
        began = time.time()
        await cli(self.lab, "migrlpar", "-o", "m", "-m", self.system, "-t", there,
                  "-p", self.guest.name)
        ended = time.time()
        self.system = there
        http = self.lab.http
        record = (await http.get(f"/partitions/{self.guest.name}/migration")) \
            .raise_for_status().json()
        if record["state"] != "Migration Complete":
            raise BenchError(f"migrlpar ended {record['state']}: {record.get('error_message')}")
        journal = (await http.get(f"/migrations/{record['id']}/journal")) \
            .raise_for_status().json()
        step = step_window(journal, MigrationStep.MIGRATE)
        return Move(began=began, ended=ended, stream_began=step[0], stream_ended=step[1],
                    downtime_ms=float(record["downtime_ms"] or 0),
                    bytes_sent=int(record["bytes_transmitted"]),
                    detail={"record": record, "step_s": m.step_durations(journal)})


def step_window(journal: list[dict[str, Any]], step: MigrationStep) -> tuple[float, float]:
    """When ``step`` began and was done, by the console's journal (epoch seconds)."""
    begun = [e["at"] for e in journal if e["step"] == step and e["phase"] == "begin"]
    done = [e["at"] for e in journal if e["step"] == step and e["phase"] == "done"]
    if not begun or not done:
        raise BenchError(f"the journal has no begin and done of step {step.label}")
    return begun[-1], done[-1]


# -- one measurement ----------------------------------------------------------------------


MovingGuest = BareGuest | OpenlpmGuest


async def pgbench(lab: Lab, address: str, *args: str, cwd: Path | None = None) -> \
        asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", f"{PREFIX}-client", "env", f"PGPASSWORD={lab.password}",
        "pgbench", "-h", address, "-U", "openlpm", *args, "openlpm", cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


async def initialise(lab: Lab, guest: Guest, scale: int) -> None:
    proc = await pgbench(lab, guest.address, "-i", "-q", "-s", str(scale))
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise BenchError(f"pgbench -i on {guest.name} failed: {(out + err).decode()[-600:]}")


async def measure(lab: Lab, path: str, moving: MovingGuest, run: int,
                  args: argparse.Namespace) -> Sample:
    """pgbench against the guest, the move ``--lead`` s in; the figures from its log."""
    logs = site.LabState.directory(PREFIX) / "pgbench" / f"run{run}-{path}"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("pgbench_log.*"):
        old.unlink()
    direction = f"{moving.system}→{SYSTEMS[1 - SYSTEMS.index(moving.system)]}"
    bench = await pgbench(lab, moving.guest.address, "-c", "4", "-j", "2",
                          "-T", str(args.duration), "-P", "1", "-l", cwd=logs)
    try:
        await asyncio.sleep(args.lead)
        load = host_load()
        move = await moving.move()
        out, err = await bench.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            bench.kill()
        await bench.wait()
        raise
    report = out.decode(errors="replace")
    failed = re.search(r"number of failed transactions: (\d+)", report)
    done = read_transactions(logs)
    figures = analyse(done, move)
    return Sample(
        path=path, run=run, direction=direction, move_s=move.ended - move.began,
        stream_s=move.stream_ended - move.stream_began, downtime_ms=move.downtime_ms,
        mib_sent=move.bytes_sent / 2**20, **figures,
        failed=int(failed.group(1)) if failed else None,
        pgbench_exit=bench.returncode, detail=move.detail | {
            "move": {"began": move.began, "ended": move.ended,
                     "stream_began": move.stream_began, "stream_ended": move.stream_ended},
            "per_second": per_second(done, move.began),
            "stall_at_s": stall_at(done, move), "load": load,
            "pgbench_report": report,
            "pgbench_stderr_tail": err.decode(errors="replace")[-2000:]})


def host_load() -> dict[str, Any]:
    """The machine as the move starts: load average, and the QEMUs running on it that are
    not this lab's (other labs' partitions, tests running beside the bench)."""
    ours = str(site.LabState.directory(PREFIX)).encode()
    others = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            words = cmdline.read_bytes()
            if words.startswith(QEMU_BINARY.encode()) and ours not in words:
                others += 1
    return {"loadavg_1min": os.getloadavg()[0], "other_qemus": others}


# -- the runs and the report --------------------------------------------------------------


async def run_all(lab: Lab, paths: dict[str, MovingGuest], args: argparse.Namespace) -> \
        list[Sample]:
    samples: list[Sample] = []
    for run in range(1, args.runs + 1):
        order = (QEMU_PATH, OPENLPM_PATH) if run % 2 else (OPENLPM_PATH, QEMU_PATH)
        for path in order:
            await asyncio.sleep(SETTLE_S)
            say(f"run {run}/{args.runs}: {PATH_LABELS[path]}: pgbench {args.duration} s, "
                f"moving {paths[path].guest.name} after {args.lead} s "
                f"(load {os.getloadavg()[0]:.2f})")
            s = await measure(lab, path, paths[path], run, args)
            say(f"run {run}/{args.runs}: {PATH_LABELS[path]} {s.direction}: move "
                f"{s.move_s:.2f} s (stream {s.stream_s:.2f} s), downtime {s.downtime_ms:.0f} "
                f"ms; tps {s.tps_before:.1f} before, {s.tps_during:.1f} during, "
                f"{_num(s.tps_after)} after; max latency {_num(s.max_latency_ms, 0)} ms, "
                f"stall {s.stall_ms:.0f} ms at {s.detail['stall_at_s']:+.1f} s; failed "
                f"{s.failed}, exit {s.pgbench_exit}; other QEMUs on the host: "
                f"{s.detail['load']['other_qemus']}")
            samples.append(s)
    return samples


def _num(value: float | None, digits: int = 1) -> str:
    return "?" if value is None else f"{value:.{digits}f}"


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


FIGURES = ("move_s", "stream_s", "downtime_ms", "mib_sent", "tps_before", "tps_during",
           "tps_stream", "tps_after", "max_latency_ms", "stall_ms")


def medians(samples: list[Sample], path: str) -> dict[str, float | None]:
    mine = [s for s in samples if s.path == path]
    return {name: _median([getattr(s, name) for s in mine]) for name in FIGURES} | {
        # tps during the move relative to before it, per run, then the median.
        "during_vs_before": _median([s.tps_during / s.tps_before for s in mine
                                     if s.tps_before]),
        "stream_vs_before": _median([s.tps_stream / s.tps_before for s in mine
                                     if s.tps_before])}


def ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    """(b)/(a) of each median, None where (a)'s is zero or unknown."""
    names = (*FIGURES, "during_vs_before", "stream_vs_before")
    return {name: b[name] / a[name] if a[name] and b[name] is not None else None
            for name in names}


def show(samples: list[Sample], summary: dict[str, Any]) -> None:
    table = Table(title=f"pgbench -c 4 -j 2 against a {summary['memory_mb']} MiB Debian 12 "
                  f"partition through a move ({summary['host']['accel']}, {summary['runs']} "
                  f"runs, medians in bold)")
    columns = ("path", "move s", "stream s", "downtime ms", "MiB sent", "tps before", "tps move",
               "tps stream", "tps after", "max lat ms", "stall ms")
    for column in columns:
        table.add_column(column, justify="left" if column == "path" else "right",
                         no_wrap=True)
    for s in samples:
        table.add_row(f"  run {s.run} {PATH_LETTERS[s.path]} {s.direction}",
                      *_cells(asdict(s)), style="dim")
    for path in (QEMU_PATH, OPENLPM_PATH):
        table.add_row(PATH_LABELS[path], *_cells(summary["medians"][path]), style="bold")
    r = summary["ratios"]
    table.add_row("(b)/(a)", *(_ratio(r[name]) for name in FIGURES))
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = 150
    out.print(table)
    for path in (QEMU_PATH, OPENLPM_PATH):
        mm = summary["medians"][path]
        out.print(f"  {PATH_LABELS[path]}: tps during the move {_ratio(mm['during_vs_before'])}"
                  f" of before, during the stream {_ratio(mm['stream_vs_before'])}")
    failures = [s for s in samples if s.pgbench_exit != 0 or s.failed]
    for s in failures:
        out.print(f"  run {s.run} {PATH_LABELS[s.path]}: pgbench exited {s.pgbench_exit}, "
                  f"{s.failed} failed transactions", style="bold red")
    out.print(f"  guests booted once: {summary['same_boot']}; QEMUs of others running on "
              f"the host at each move: {[s.detail['load']['other_qemus'] for s in samples]}")


DIGITS = {"move_s": 2, "stream_s": 2, "downtime_ms": 0, "mib_sent": 0, "max_latency_ms": 0,
          "stall_ms": 0}


def _cells(v: dict[str, Any]) -> list[str]:
    """The table's cells of a sample or of the medians, in FIGURES' order."""
    return [_num(v[name], DIGITS.get(name, 1)) for name in FIGURES]


def _ratio(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}×"


async def make_lab(args: argparse.Namespace, http_for: Callable[[site.LabState],
                                                                 httpx.AsyncClient]) -> Lab:
    say(f"the {OS_NAME} image (built on first use, a few minutes)")
    image = await asyncio.to_thread(build_os_image, OS_NAME)
    state = await site.up(site.LabSpec(
        prefix=PREFIX, systems=2, memory_mb=max(SYSTEM_MEMORY_MB, 4 * args.memory_mb),
        hmc_port=site.free_port(), make_default=False), say=say)
    # Never used by a partition booting its own disk, but part of the agent's settings.
    boot = PartitionImage.locate(site.IMAGE_DIR)
    settings = QemuSettings(binary=QEMU_BINARY, accel=state.accel,
                            boot=BootImage(boot.kernel, boot.initrd, KERNEL_ARGS))
    return Lab(state=state, image=image, password=image.db_password.read_text().strip(),
               qemu=settings, http=http_for(state))


def command_lines(bare: BareGuest, lpm: OpenlpmGuest) -> dict[str, Any]:
    """Both guests' running QEMU command lines, and the words in which they differ once
    names, paths and addresses are taken out: the baseline must be the same machine."""
    def words(pidfile: Path, name: str) -> list[str]:
        pid = int(pidfile.read_text().strip())
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        text = "\0".join(raw).replace(name, "NAME")
        text = re.sub(r"/[^\0,=\"]*/run/[^\0,=\"/]+", "RUN", text)
        text = re.sub(r"/[^\0,=\"]*/fabric/[^\0,=\"/]+", "FABRIC", text)
        text = re.sub(r"mac=[0-9a-f:]+|lp\d+s\d+|c0507600000[0-9a-f]{5}|\d+\.\d+\.\d+\.\d+|"
                      r'"port": "\d+"', "X", text)
        return text.split("\0")
    assert bare.qemu is not None
    mine = words(bare.qemu.pidfile, bare.guest.name)
    theirs = words(site.LabState.directory(PREFIX) / lpm.system / "run" / lpm.guest.name /
                   "qemu.pid", lpm.guest.name)
    return {"bare_only": [w for w in mine if w not in theirs],
            "agent_only": [w for w in theirs if w not in mine]}


async def bench(args: argparse.Namespace) -> tuple[list[Sample], dict[str, Any]]:
    started = time.monotonic()
    lab = await make_lab(args, lambda state: site.console_client(state, timeout=30.0))
    bare_guest = Guest("dbq", "198.18.10.32", ("c050760000000f11", "c050760000000f12"),
                       args.memory_mb)
    lpm_guest = Guest("db1", "198.18.10.31", ("c050760000000f01", "c050760000000f02"),
                      args.memory_mb)
    host = m.host_info(lab.state.accel)
    bare = BareGuest(bare_guest, lab.qemu, site.LabSpec().vlans)
    lpm = OpenlpmGuest(lab, lpm_guest)
    try:
        await make_luns(lab, (bare_guest, lpm_guest))
        await bare.prepare()
        say("booting both guests (Debian by SeaBIOS and GRUB from their LUNs; minutes "
            "under TCG)")
        booted = time.monotonic()
        boots = await asyncio.gather(bare.boot(), lpm.boot())
        say(f"both booted in {time.monotonic() - booted:.0f} s: {boots}")
        differences = command_lines(bare, lpm)
        say(f"QEMU command lines, bare only: {differences['bare_only']}; "
            f"agent only: {differences['agent_only']}")
        for guest in (bare_guest, lpm_guest):
            await initialise(lab, guest, args.scale)
        samples = await run_all(lab, {QEMU_PATH: bare, OPENLPM_PATH: lpm}, args)
        after = [await boot_id(bare.agent), await boot_id(lpm.agent)]
    finally:
        await bare.stop()
        await lab.http.aclose()
    a, b = medians(samples, QEMU_PATH), medians(samples, OPENLPM_PATH)
    return samples, {
        "bench": "pgbench", "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": args.runs, "memory_mb": args.memory_mb, "duration_s": args.duration,
        "lead_s": args.lead, "scale": args.scale, "clients": 4, "threads": 2,
        "host": host | {"loadavg_at_end": os.getloadavg()},
        "boots": boots, "same_boot": after == [x["boot_id"] for x in boots],
        "command_line_differences": differences,
        "medians": {QEMU_PATH: a, OPENLPM_PATH: b}, "ratios": ratios(a, b),
        "definitions": Sample.__doc__,
        "samples": [asdict(s) for s in samples],
        "bench_s": time.monotonic() - started,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="moves of each path (default 3)")
    parser.add_argument("--duration", type=int, default=60, help="pgbench -T, seconds")
    parser.add_argument("--lead", type=int, default=15,
                        help="seconds of pgbench before the move starts")
    parser.add_argument("--scale", type=int, default=4, help="pgbench -i -s")
    parser.add_argument("--memory-mb", type=int, default=768, help="partition memory, MiB")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.lead < WINDOW_S or args.duration < args.lead + 2 * WINDOW_S \
            or args.memory_mb < 512:
        parser.error("need --runs >= 1, --lead >= 10, --duration >= --lead + 20 and "
                     "--memory-mb >= 512")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench(PREFIX, lambda: bench(args), lambda result: result[1],
                     lambda result: show(*result), args.out)


if __name__ == "__main__":
    sys.exit(main())
