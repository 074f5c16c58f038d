"""Migration benchmark: bare QEMU-to-QEMU against ``migrlpar -o m``, side by side.

One lab carries every run. Each run boots a partition that fills ``--fill-mb`` MiB of its
memory with random data and migrates it from sys1 to sys2 twice, on the same lab link:

(a) QEMU directly: two QEMUs started by this script with exactly the agent's command line,
    inside the systems' namespaces, the source streaming straight to the target's address;
(b) openlpm: ``migrlpar -o m`` through the console, the agents and the mover services.

The two alternate (a b, b a, ...) so that machine noise falls on both. Each guest is
booted afresh, so each migration moves freshly filled memory. Prints a table and writes
JSON with every run, the medians, the ratios (b)/(a) and the DESIGN.md targets.

Usage: python bench/migration.py [--runs N] [--fill-mb 400] [--memory-mb 1024] [--out F]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import httpx
from benchlab import BenchError, ThreadClock, qemu_pids, run_bench, run_cli, say
from qemu.qmp import EventListener, QMPClient
from qemu.qmp.message import Message
from rich.console import Console
from rich.table import Table

from openlpm.agent.qemu import (
    STREAM_BANDWIDTH,
    BootImage,
    QemuPartition,
    QemuSettings,
    event_time,
)
from openlpm.cli.commands import PROFILE_ATTRIBUTES, parse_attributes, profile_from
from openlpm.lab import site
from openlpm.lab.image import KERNEL_ARGS, PartitionImage
from openlpm.model import MigrationStep, PartitionProfile, StreamStatus

PREFIX = "bench"
SOURCE, TARGET = site.system_name(1), site.system_name(2)
TARGET_ADDRESS = site.system_node(PREFIX, 2).address
QEMU_BINARY = "qemu-system-x86_64"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "migration.json"
FILLED = "openlpm filled"
TICK = "tick "
TICKS_AFTER = 2  # ticks on the target that close the console gap of the switch-over
SYSTEM_MEMORY_MB = 4096
BOOT_TIMEOUT_S = 300.0
MIGRATION_TIMEOUT_S = 300.0
QEMU_PATH, OPENLPM_PATH = "qemu", "openlpm"
PATH_LABELS = {QEMU_PATH: "(a) QEMU → QEMU", OPENLPM_PATH: "(b) migrlpar -o m"}


# (receive time, system, text) of one console line.
Line = tuple[float, str, str]


@dataclass(frozen=True)
class Sample:
    """One measured migration.

    total_s: wall clock as a user sees it: from the migrate command to the target QEMU's
    RESUME event, the guest running there, for (a) (to the source's "completed" event is
    in detail["completed_s"]); the whole ``migrlpar -o m`` command for (b).
    downtime_ms: QEMU's own downtime, measured by the source alone up to its last byte.
    guest_pause_ms: the guest's real pause, source QEMU's STOP to target QEMU's RESUME by
    their QMP event stamps: read by this bench's own QMP connections for (a), the
    console's record (``downtime_ms``, the hosts' clocks compared) for (b).
    stream_s: how long the memory stream took: QEMU's total-time for (a), step 4
    (Migrate) of the console's journal for (b); throughput is bytes sent over stream_s.
    pause_ms: the guest's pause as its console shows it: the silence between the last
    tick received from the source and the first from the target, minus the median tick
    interval. Unlike downtime_ms it also counts the bytes still in flight (socket and
    relay buffers) when the source declares the stream complete.
    """

    path: str
    run: int
    total_s: float
    downtime_ms: float
    bytes_sent: int
    stream_s: float
    pause_ms: float | None
    boot_s: float
    guest_pause_ms: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def mib_sent(self) -> float:
        return self.bytes_sent / 2**20

    @property
    def mib_per_s(self) -> float:
        return self.mib_sent / self.stream_s if self.stream_s > 0 else 0.0


@dataclass(frozen=True)
class Setup:
    """What every run shares: the lab, the partition definition, the QEMU settings."""

    lab: site.LabState
    memory_mb: int
    fill_mb: int
    qemu: QemuSettings

    def profile_attributes(self, name: str) -> str:
        mem = self.memory_mb
        return (f"name={name},profile_name=default,min_mem=256,desired_mem={mem},"
                f"max_mem={mem},min_procs=1,desired_procs=1,max_procs=1")

    def profile(self, name: str) -> PartitionProfile:
        """The very profile ``mksyscfg`` makes of the same attributes."""
        attributes = parse_attributes(self.profile_attributes(name), PROFILE_ATTRIBUTES,
                                      "mksyscfg -r lpar")
        return profile_from(attributes)


def switch_over_pause_ms(lines: list[Line]) -> float | None:
    """Console silence across the switch-over beyond the usual tick interval, in ms."""
    ticks = [(t, where) for t, where, text in lines if text.startswith(TICK)]
    if len(ticks) < 3:
        return None
    switch = [b - a for (a, was), (b, now) in pairwise(ticks) if was != now]
    usual = [b - a for (a, was), (b, now) in pairwise(ticks) if was == now]
    if len(switch) != 1 or not usual:
        return None
    return (switch[0] - statistics.median(usual)) * 1000


def migration_ended(event: Message) -> bool:
    data = cast(dict[str, Any], event.get("data", {}))
    return event["event"] == "MIGRATION" and StreamStatus(data["status"]).final


# -- (a) QEMU directly --------------------------------------------------------------------


class Monitor:
    """Our own QMP connection to a QEMU, keeping every event it sent."""

    def __init__(self, qmp: QMPClient, listener: EventListener) -> None:
        self.qmp = qmp
        self.listener = listener
        self.events: list[tuple[float, Message]] = []

    @classmethod
    async def open(cls, qemu: QemuPartition) -> Monitor:
        qmp = QMPClient(qemu.name)
        listener = EventListener(("MIGRATION", "STOP", "RESUME"))
        qmp.register_listener(listener)
        await qmp.connect(str(qemu.qmp_socket))
        # The agent turns migration events on too; they carry the status changes.
        await qmp.execute("migrate-set-capabilities", {
            "capabilities": [{"capability": "events", "state": True}]})
        return cls(qmp, listener)

    async def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        return await self.qmp.execute(command, arguments)

    async def wait_event(self, ready: Callable[[Message], bool], timeout: float) -> \
            tuple[float, Message]:
        """The first event (received from now on, or queued) for which ``ready`` holds."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.listener.get()
                self.events.append((time.monotonic(), event))
                if ready(event):
                    return self.events[-1]

    def first(self, name: str) -> Message | None:
        return next((e for _, e in self.events if e["event"] == name), None)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.qmp.disconnect()


class ConsoleTap:
    """Follows serial console sockets, stamping each line when it arrives."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self._changed = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []

    async def follow(self, qemu: QemuPartition, where: str) -> None:
        reader, writer = await asyncio.open_unix_connection(str(qemu.console_socket))
        self._tasks.append(asyncio.create_task(self._read(reader, writer, where)))

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    where: str) -> None:
        try:
            while line := await reader.readline():
                text = line.decode(errors="replace").strip()
                async with self._changed:
                    self.lines.append((time.time(), where, text))
                    self._changed.notify_all()
        finally:
            writer.close()

    async def wait_for(self, ready: Callable[[list[Line]], bool], timeout: float,
                       what: str) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: ready(self.lines))
        except TimeoutError:
            raise BenchError(f"{what} did not happen within {timeout:.0f} s") from None

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def has_text(text: str) -> Callable[[list[Line]], bool]:
    return lambda lines: any(text in line for _, _, line in lines)


def has_ticks(where: str, count: int) -> Callable[[list[Line]], bool]:
    return lambda lines: sum(1 for _, w, t in lines if w == where and t.startswith(TICK)) \
        >= count


async def qemu_direct(setup: Setup, run: int) -> Sample:
    """Boot a source in sys1, an incoming target in sys2, and let QEMU migrate alone."""
    run_root = site.LabState.directory(PREFIX) / "baseline" / "run"  # lab down ends these too
    profile = setup.profile(f"direct{run}")
    source = QemuPartition(profile.name, run_root / f"source{run}", setup.qemu)
    target = QemuPartition(profile.name, run_root / f"target{run}", setup.qemu)
    tap = ConsoleTap()
    monitors: list[Monitor] = []
    try:
        booted = time.monotonic()
        await start_in_namespace(f"{PREFIX}-{SOURCE}", source, profile, incoming=False)
        await tap.follow(source, SOURCE)
        await tap.wait_for(has_text(FILLED), BOOT_TIMEOUT_S, f"'{FILLED}' on {source.name}")
        boot_s = time.monotonic() - booted
        await start_in_namespace(f"{PREFIX}-{TARGET}", target, profile, incoming=True)
        await tap.follow(target, TARGET)
        monitors.append(await Monitor.open(source))
        monitors.append(await Monitor.open(target))
        pids = {"source QEMU": source.pid(), "target QEMU": target.pid()}
        async with ThreadClock(lambda: {k: v for k, v in pids.items() if v}) as clock:
            sample = await _measure_direct(monitors[0], monitors[1], run, boot_s)
        sample.detail["cpu_s"] = clock.used()
        await tap.wait_for(has_ticks(TARGET, TICKS_AFTER), 30.0, "ticks on the target")
        return Sample(**asdict(sample) | {"pause_ms": switch_over_pause_ms(tap.lines)})
    finally:
        for monitor in monitors:
            await monitor.close()
        await tap.close()
        for qemu in (source, target):
            await qemu.stop()


async def _measure_direct(source: Monitor, target: Monitor, run: int, boot_s: float) -> Sample:
    await target.execute("migrate-incoming", {"uri": f"tcp:{TARGET_ADDRESS}:0"})
    port = (await target.execute("query-migrate"))["socket-address"][0]["port"]
    await source.execute("migrate-set-parameters", {"max-bandwidth": STREAM_BANDWIDTH})
    began = time.monotonic()
    await source.execute("migrate", {"uri": f"tcp:{TARGET_ADDRESS}:{port}"})
    ended, _ = await source.wait_event(migration_ended, MIGRATION_TIMEOUT_S)
    info = await final_migration_info(source)
    if info["status"] != "completed":
        raise BenchError(f"QEMU's own migration ended {info['status']}: "
                         f"{info.get('error-desc')}")
    resumed_at, resumed = await target.wait_event(lambda e: e["event"] == "RESUME", 30.0)
    stopped = source.first("STOP")
    ram = info["ram"]
    # Done when the guest runs on the target, as migrlpar is: the source's "completed"
    # comes before the last bytes are loaded there.
    return Sample(
        path=QEMU_PATH, run=run, total_s=resumed_at - began, downtime_ms=float(info["downtime"]),
        bytes_sent=int(ram["transferred"]), stream_s=info["total-time"] / 1000,
        pause_ms=None, boot_s=boot_s,
        guest_pause_ms=(event_time(resumed) - event_time(stopped)) * 1000 if stopped else None,
        detail={"query_migrate": info, "completed_s": ended - began})


async def final_migration_info(source: Monitor) -> dict[str, Any]:
    """query-migrate once QEMU has filled in total-time and downtime.

    QEMU 7.2 reports "completed" (and sends the event) before it computes them, so a
    query right after the event reads 0 for both; no event marks the moment after.
    """
    async with asyncio.timeout(5.0):
        while True:
            info: dict[str, Any] = await source.execute("query-migrate")
            if info["status"] != "completed" or info.get("total-time"):
                return info
            await asyncio.sleep(0.01)


async def start_in_namespace(namespace: str, qemu: QemuPartition, profile: PartitionProfile,
                             incoming: bool) -> None:
    """Start QEMU with the agent's very command line, but inside ``namespace``."""
    qemu.run_dir.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", namespace, *qemu.command(profile, incoming),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise BenchError(f"QEMU did not start in {namespace}: {out.decode(errors='replace')}")


# -- (b) migrlpar -o m --------------------------------------------------------------------


async def openlpm_migration(setup: Setup, http: httpx.AsyncClient, run: int,
                            options: tuple[str, ...] = (), path: str = OPENLPM_PATH) -> Sample:
    """Define and activate a partition on sys1, wait for its fill, time ``migrlpar -o m``
    (given ``options``, e.g. ``-i streams=4``)."""
    name = f"lpm{run}"
    try:
        await cli(setup, "mksyscfg", "-r", "lpar", "-m", SOURCE,
                  "-i", setup.profile_attributes(name))
        booted = time.monotonic()
        await cli(setup, "chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n", name)
        await wait_console_api(http, SOURCE, name, has_text(FILLED), f"'{FILLED}' on {name}")
        boot_s = time.monotonic() - booted
        async with ThreadClock(lambda: openlpm_pids(setup.lab, name)) as clock:
            began = time.monotonic()
            await cli(setup, "migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", name,
                      *options)
            wall_s = time.monotonic() - began
        lines = await wait_console_api(http, TARGET, name, has_ticks(TARGET, TICKS_AFTER),
                                       f"ticks of {name} on {TARGET}")
        sample = await _openlpm_sample(http, name, run, wall_s, boot_s)
        sample.detail["cpu_s"] = clock.used()
        return Sample(**asdict(sample) | {"pause_ms": switch_over_pause_ms(lines),
                                          "path": path})
    finally:
        for system in (TARGET, SOURCE):
            await cli(setup, "chsysstate", "-r", "lpar", "-m", system, "-o", "shutdown",
                      "--immed", "-n", name, check=False)
            await cli(setup, "rmsyscfg", "-r", "lpar", "-m", system, "-n", name, check=False)


async def _openlpm_sample(http: httpx.AsyncClient, name: str, run: int, wall_s: float,
                          boot_s: float) -> Sample:
    record = (await http.get(f"/partitions/{name}/migration")).raise_for_status().json()
    if record["state"] != "Migration Complete":
        raise BenchError(f"migrlpar of {name} ended {record['state']}: "
                         f"{record.get('error_message')}")
    journal = (await http.get(f"/migrations/{record['id']}/journal")).raise_for_status().json()
    steps = step_durations(journal)
    # QEMU's own stream time, should the record ever carry it; until then step 4.
    stream_s = (record["total_time_ms"] / 1000 if record.get("total_time_ms")
                else steps[MigrationStep.MIGRATE.label])
    console_s = record["ended"] - record["started"]
    return Sample(path=OPENLPM_PATH, run=run, total_s=wall_s,
                  downtime_ms=float(record["qemu_downtime_ms"] or 0),
                  bytes_sent=int(record["bytes_transmitted"]), stream_s=stream_s,
                  pause_ms=None, boot_s=boot_s, guest_pause_ms=record["downtime_ms"], detail={
                      "record": record, "step_s": steps, "console_s": console_s,
                      "cli_overhead_s": wall_s - console_s})


def openlpm_pids(lab: site.LabState, name: str) -> dict[str, int]:
    """The processes that carry a migration from sys1 to sys2: both QEMUs of the
    partition and both mover services."""
    systems = {f"{role} QEMU": f"/{PREFIX}/{system}/"
               for role, system in (("source", SOURCE), ("target", TARGET))}
    return {**qemu_pids(name, systems), "source mover": lab.pids[f"{SOURCE}-mover"],
            "target mover": lab.pids[f"{TARGET}-mover"]}


def step_durations(journal: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds from each step's "begin" to its "done" in the console's journal."""
    begun: dict[int, float] = {}
    took: dict[str, float] = {}
    for entry in journal:
        if entry["step"] is None:
            continue
        if entry["phase"] == "begin":
            begun[entry["step"]] = entry["at"]
        elif entry["phase"] == "done" and entry["step"] in begun:
            took[MigrationStep(entry["step"]).label] = entry["at"] - begun[entry["step"]]
    return took


async def wait_console_api(http: httpx.AsyncClient, system: str, name: str,
                           ready: Callable[[list[Line]], bool], what: str) -> list[Line]:
    """Poll the console's API until ``ready``: a partition's console has no event feed."""
    path = f"/systems/{system}/partitions/{name}/console"
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        body = (await http.get(path, params={"lines": 2000})).raise_for_status().json()
        lines = [(line["t"], line["system"], line["text"]) for line in body]
        if ready(lines):
            return lines
        await asyncio.sleep(0.5)
    raise BenchError(f"{what} did not happen within {BOOT_TIMEOUT_S:.0f} s")


async def cli(setup: Setup, *argv: str, check: bool = True) -> str:
    """Run an HMC-compatible command against the lab, as a user would; returns its output."""
    return await run_cli(setup.lab, *argv, check=check)


# -- the runs and the report --------------------------------------------------------------


Measure = Callable[[int], Coroutine[Any, Any, Sample]]


async def run_all(setup: Setup, runs: int) -> list[Sample]:
    samples: list[Sample] = []
    async with site.console_client(setup.lab, timeout=30.0) as http:
        measures: dict[str, Measure] = {
            QEMU_PATH: lambda run: qemu_direct(setup, run),
            OPENLPM_PATH: lambda run: openlpm_migration(setup, http, run)}
        for run in range(1, runs + 1):
            order = (QEMU_PATH, OPENLPM_PATH) if run % 2 else (OPENLPM_PATH, QEMU_PATH)
            for path in order:
                say(f"run {run}/{runs}: {PATH_LABELS[path]}: booting and filling "
                    f"{setup.fill_mb} MiB")
                sample = await measures[path](run)
                say(f"run {run}/{runs}: {PATH_LABELS[path]}: {sample.total_s:.2f} s, "
                    f"QEMU's downtime {sample.downtime_ms:.0f} ms, STOP→RESUME "
                    f"{_ms(sample.guest_pause_ms)} ms, console gap {_ms(sample.pause_ms)} ms, "
                    f"{sample.mib_sent:.0f} MiB at {sample.mib_per_s:.0f} MiB/s "
                    f"(boot and fill took {sample.boot_s:.0f} s)")
                samples.append(sample)
    return samples


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def medians(samples: list[Sample], path: str) -> dict[str, float | None]:
    mine = [s for s in samples if s.path == path]
    return {
        "total_s": _median([s.total_s for s in mine]),
        "downtime_ms": _median([s.downtime_ms for s in mine]),
        "pause_ms": _median([s.pause_ms for s in mine]),
        "mib_sent": _median([s.mib_sent for s in mine]),
        "stream_s": _median([s.stream_s for s in mine]),
        "mib_per_s": _median([s.mib_per_s for s in mine]),
        "guest_pause_ms": _median([s.guest_pause_ms for s in mine]),
    }


def cpu_medians(samples: list[Sample], path: str) -> dict[str, dict[str, Any]]:
    """Per process of the path: the median CPU seconds it used during the migration,
    and its busiest thread with that thread's median."""
    used = [s.detail.get("cpu_s", {}) for s in samples if s.path == path]
    roles = sorted({role for u in used for role in u})
    out: dict[str, dict[str, Any]] = {}
    for role in roles:
        threads = [by_name(u[role]) for u in used if role in u]
        busiest = max({name for t in threads for name in t},
                      key=lambda n: statistics.median(t.get(n, 0.0) for t in threads))
        out[role] = {"cpu_s": statistics.median(sum(t.values()) for t in threads),
                     "busiest_thread": busiest,
                     "busiest_cpu_s": statistics.median(t.get(busiest, 0.0) for t in threads)}
    return out


def by_name(threads: dict[str, float]) -> dict[str, float]:
    """CPU seconds by thread name (``NAME[TID]`` without the TID): one run's threads
    named alike (a mover's relay threads, QEMU's vCPUs) added up."""
    named: dict[str, float] = {}
    for thread, used in threads.items():
        name = thread.rpartition("[")[0]
        # QEMU's main thread bears the partition's name, another each run.
        name = "main" if name.startswith("openlpm-") else name
        named[name] = named.get(name, 0.0) + used
    return named


def ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float | None]:
    both_paused = a["pause_ms"] is not None and b["pause_ms"] is not None
    both_stamped = a["guest_pause_ms"] is not None and b["guest_pause_ms"] is not None
    return {
        "total_time": b["total_s"] / a["total_s"],
        "throughput": b["mib_per_s"] / a["mib_per_s"],
        "extra_total_s": b["total_s"] - a["total_s"],
        "downtime_diff_ms": b["downtime_ms"] - a["downtime_ms"],
        "pause_diff_ms": b["pause_ms"] - a["pause_ms"] if both_paused else None,
        "guest_pause_diff_ms": b["guest_pause_ms"] - a["guest_pause_ms"] if both_stamped
        else None,
    }


def targets(b: dict[str, Any], r: dict[str, Any]) -> dict[str, bool]:
    """The performance targets of DESIGN.md and issue 21, met or not by the medians."""
    return {
        "throughput >= 0.95 x QEMU's (encrypted)": r["throughput"] >= 0.95,
        "migrlpar <= QEMU's time + 0.3 s": r["extra_total_s"] <= 0.3,
        "guest pause (STOP→RESUME) <= QEMU's + 10 ms": r["guest_pause_diff_ms"] is not None
        and r["guest_pause_diff_ms"] <= 10,
    }


def show(samples: list[Sample], summary: dict[str, Any]) -> None:
    table = Table(title=f"Migration of a {summary['memory_mb']} MiB partition with "
                  f"{summary['fill_mb']} MiB of random data ({summary['host']['accel']}, "
                  f"{summary['runs']} runs, medians in bold)")
    for column in ("path", "total s", "QEMU downtime ms", "STOP→RESUME ms", "MiB sent",
                   "MiB/s", "console gap ms"):
        table.add_column(column, justify="left" if column == "path" else "right",
                         no_wrap=True)
    for s in samples:
        table.add_row(f"  run {s.run} {PATH_LABELS[s.path]}", f"{s.total_s:.2f}",
                      f"{s.downtime_ms:.0f}", _ms(s.guest_pause_ms), f"{s.mib_sent:.0f}",
                      f"{s.mib_per_s:.1f}", _ms(s.pause_ms), style="dim")
    for path in (QEMU_PATH, OPENLPM_PATH):
        m = summary["medians"][path]
        table.add_row(PATH_LABELS[path], f"{m['total_s']:.2f}", f"{m['downtime_ms']:.0f}",
                      _ms(m["guest_pause_ms"]), f"{m['mib_sent']:.0f}",
                      f"{m['mib_per_s']:.1f}", _ms(m["pause_ms"]), style="bold")
    r = summary["ratios"]
    table.add_row("(b)/(a) total time", f"{r['total_time']:.2f}×", "", "", "", "", "")
    table.add_row("(b)/(a) throughput", "", "", "", "", f"{r['throughput']:.2f}×", "")
    table.add_row("(b)−(a)", f"{r['extra_total_s']:+.2f}", f"{r['downtime_diff_ms']:+.0f}",
                  _signed(r["guest_pause_diff_ms"]), "", "", _signed(r["pause_diff_ms"]))
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = 140
    out.print(table)
    out.print("  QEMU downtime: QEMU's own, as the source measures it; STOP→RESUME: the guest's "
              "real pause by both QEMUs' event stamps; console gap: console silence across "
              "the switch-over beyond one tick")
    for path, roles in summary["cpu_s"].items():
        out.print(f"  {PATH_LABELS[path]}, CPU s during the migration (medians): " + "; ".join(
            f"{role} {u['cpu_s']:.2f} (busiest thread {u['busiest_thread']} "
            f"{u['busiest_cpu_s']:.2f})" for role, u in roles.items()))
    for target, met in summary["targets"].items():
        out.print(f"  {'met    ' if met else 'MISSED '} {target}")


def _signed(value: float | None) -> str:
    return "?" if value is None else f"{value:+.0f}"


def host_info(accel: str) -> dict[str, Any]:
    version = subprocess.run([QEMU_BINARY, "--version"], capture_output=True, text=True,
                             check=False).stdout.split("\n", 1)[0]
    return {"nproc": os.cpu_count(), "accel": accel, "qemu": version,
            "kernel": platform.release(), "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg()}


async def make_setup(args: argparse.Namespace) -> Setup:
    """The lab and the partition definition every run shares."""
    partition_args = f"openlpm.fill_mb={args.fill_mb}"
    lab = await site.up(site.LabSpec(
        prefix=PREFIX, systems=2, cpus=4, memory_mb=max(SYSTEM_MEMORY_MB, 2 * args.memory_mb),
        hmc_port=site.free_port(), make_default=False, partition_args=partition_args),
        say=say)
    image = PartitionImage.locate(site.IMAGE_DIR)
    # The kernel command line the lab gives its agents (site._start_system).
    boot = BootImage(image.kernel, image.initrd, f"{KERNEL_ARGS} {partition_args}")
    return Setup(lab=lab, memory_mb=args.memory_mb, fill_mb=args.fill_mb,
                 qemu=QemuSettings(binary=QEMU_BINARY, accel=lab.accel, boot=boot))


async def bench(args: argparse.Namespace) -> tuple[list[Sample], dict[str, Any]]:
    started = time.monotonic()
    setup = await make_setup(args)
    host = host_info(setup.lab.accel)
    samples = await run_all(setup, args.runs)
    a, b = medians(samples, QEMU_PATH), medians(samples, OPENLPM_PATH)
    r = ratios(a, b)
    return samples, {
        "bench": "migration", "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": args.runs, "fill_mb": args.fill_mb, "memory_mb": args.memory_mb,
        "host": host, "medians": {QEMU_PATH: a, OPENLPM_PATH: b}, "ratios": r,
        "cpu_s": {path: cpu_medians(samples, path) for path in (QEMU_PATH, OPENLPM_PATH)},
        "targets": targets(b, r), "definitions": Sample.__doc__,
        "samples": [asdict(s) | {"mib_sent": s.mib_sent, "mib_per_s": s.mib_per_s}
                    for s in samples],
        "bench_s": time.monotonic() - started,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each path (default 3)")
    parser.add_argument("--fill-mb", type=int, default=400,
                        help="MiB of random data the guest writes before it migrates")
    parser.add_argument("--memory-mb", type=int, default=1024, help="partition memory, MiB")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.fill_mb < 1 or args.fill_mb + 128 > args.memory_mb:
        parser.error("need --runs >= 1 and 1 <= --fill-mb <= --memory-mb - 128")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench(PREFIX, lambda: bench(args), lambda result: result[1],
                     lambda result: show(*result), args.out)


if __name__ == "__main__":
    sys.exit(main())
