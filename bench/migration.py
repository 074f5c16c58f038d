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
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from openlpm.agent.qemu import FINAL_MIGRATION_STATUSES, BootImage, QemuPartition, QemuSettings
from openlpm.cli.commands import PROFILE_ATTRIBUTES, parse_attributes, profile_from
from openlpm.lab import site
from openlpm.lab.image import KERNEL_ARGS, PartitionImage
from openlpm.model import MigrationStep, PartitionProfile

PREFIX = "bench"
SOURCE, TARGET = site.system_name(1), site.system_name(2)
TARGET_ADDRESS = site.system_node(PREFIX, 2).address
QEMU_BINARY = "qemu-system-x86_64"
BIN = Path(sys.executable).parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "migration.json"
FILLED = "openlpm filled"
SYSTEM_MEMORY_MB = 4096
BOOT_TIMEOUT_S = 300.0
MIGRATION_TIMEOUT_S = 300.0
CLI_TIMEOUT_S = 300.0
QEMU_PATH, OPENLPM_PATH = "qemu", "openlpm"
PATH_LABELS = {QEMU_PATH: "(a) QEMU → QEMU", OPENLPM_PATH: "(b) migrlpar -o m"}

say = Console(stderr=True, highlight=False).print


class BenchError(Exception):
    """The bench cannot go on; the message says what failed."""


@dataclass(frozen=True)
class Sample:
    """One measured migration.

    ``total_s`` is wall clock as a user sees it: from the migrate command to QEMU's
    "completed" for (a), the whole ``migrlpar -o m`` command for (b). ``stream_s`` is how
    long the memory stream took: QEMU's total-time for (a), step 4 (Migrate) of the
    console's journal for (b); throughput is bytes sent over ``stream_s``.
    """

    path: str
    run: int
    total_s: float
    downtime_ms: float
    bytes_sent: int
    stream_s: float
    boot_s: float
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


# -- (a) QEMU directly --------------------------------------------------------------------


async def qemu_direct(setup: Setup, run: int) -> Sample:
    """Boot a source in sys1, an incoming target in sys2, and let QEMU migrate alone."""
    run_root = site.LabState.directory(PREFIX) / "baseline" / "run"  # lab down ends these too
    profile = setup.profile(f"direct{run}")
    source = QemuPartition(profile.name, run_root / f"source{run}", setup.qemu)
    target = QemuPartition(profile.name, run_root / f"target{run}", setup.qemu)
    try:
        booted = time.monotonic()
        await start_in_namespace(f"{PREFIX}-{SOURCE}", source, profile, incoming=False)
        await wait_console_socket(source, FILLED, BOOT_TIMEOUT_S)
        boot_s = time.monotonic() - booted
        await start_in_namespace(f"{PREFIX}-{TARGET}", target, profile, incoming=True)
        port = await target.listen_incoming(TARGET_ADDRESS)
        return await _measure_direct(source, f"tcp:{TARGET_ADDRESS}:{port}", run, boot_s)
    finally:
        for qemu in (source, target):
            await qemu.stop()


async def _measure_direct(source: QemuPartition, uri: str, run: int,
                          boot_s: float) -> Sample:
    began = time.monotonic()
    await source.migrate(uri)
    status = "setup"
    async with asyncio.timeout(MIGRATION_TIMEOUT_S):
        while status not in FINAL_MIGRATION_STATUSES:
            status = (await source.progress(wait=1.0, known_status=status)).status
    wall_s = time.monotonic() - began
    info: dict[str, Any] = await source.execute("query-migrate")
    if status != "completed":
        raise BenchError(f"QEMU's own migration ended {status}: {info.get('error-desc')}")
    ram = info["ram"]
    return Sample(path=QEMU_PATH, run=run, total_s=wall_s, downtime_ms=float(info["downtime"]),
                  bytes_sent=int(ram["transferred"]), stream_s=info["total-time"] / 1000,
                  boot_s=boot_s, detail={"query_migrate": info})


async def start_in_namespace(namespace: str, qemu: QemuPartition, profile: PartitionProfile,
                             incoming: bool) -> None:
    """Start QEMU with the agent's command line, but inside ``namespace``, then attach QMP."""
    qemu.run_dir.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", namespace, *qemu.command(profile, incoming),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise BenchError(f"QEMU did not start in {namespace}: {out.decode(errors='replace')}")
    await qemu.connect()


async def wait_console_socket(qemu: QemuPartition, text: str, timeout: float) -> None:
    """Read the serial console until a line holds ``text``.

    Output from before we connected is only in console.raw, so that is looked at too.
    """
    reader, writer = await asyncio.open_unix_connection(str(qemu.console_socket))
    try:
        raw = qemu.run_dir / "console.raw"
        if raw.exists() and text in raw.read_text(errors="replace"):
            return
        async with asyncio.timeout(timeout):
            while line := await reader.readline():
                if text in line.decode(errors="replace"):
                    return
        raise BenchError(f"the console of {qemu.name} closed before '{text}'")
    except TimeoutError:
        raise BenchError(f"{qemu.name} printed no '{text}' within {timeout:.0f} s") from None
    finally:
        writer.close()


# -- (b) migrlpar -o m --------------------------------------------------------------------


async def openlpm_migration(setup: Setup, http: httpx.AsyncClient, run: int) -> Sample:
    """Define and activate a partition on sys1, wait for its fill, time ``migrlpar -o m``."""
    name = f"lpm{run}"
    try:
        await cli(setup, "mksyscfg", "-r", "lpar", "-m", SOURCE,
                  "-i", setup.profile_attributes(name))
        booted = time.monotonic()
        await cli(setup, "chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n", name)
        await wait_console_api(http, SOURCE, name, FILLED, BOOT_TIMEOUT_S)
        boot_s = time.monotonic() - booted
        began = time.monotonic()
        await cli(setup, "migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", name)
        wall_s = time.monotonic() - began
        return await _openlpm_sample(http, name, run, wall_s, boot_s)
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
    # Prefer QEMU's own stream time should the record ever carry it; else step 4.
    stream_s = (record["total_time_ms"] / 1000 if record.get("total_time_ms")
                else steps[MigrationStep.MIGRATE.label])
    console_s = record["ended"] - record["started"]
    return Sample(path=OPENLPM_PATH, run=run, total_s=wall_s,
                  downtime_ms=float(record["downtime_ms"] or 0),
                  bytes_sent=int(record["bytes_transmitted"]), stream_s=stream_s,
                  boot_s=boot_s, detail={
                      "record": record, "step_s": steps, "console_s": console_s,
                      "cli_overhead_s": wall_s - console_s})


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


async def wait_console_api(http: httpx.AsyncClient, system: str, name: str, text: str,
                           timeout: float) -> None:
    """Poll the console's API for a line: the partition's console has no event to wait on."""
    path = f"/systems/{system}/partitions/{name}/console"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = (await http.get(path, params={"lines": 50})).raise_for_status().json()
        if any(text in line["text"] for line in lines):
            return
        await asyncio.sleep(1.0)
    raise BenchError(f"{name} on {system} printed no '{text}' within {timeout:.0f} s")


async def cli(setup: Setup, *argv: str, check: bool = True) -> str:
    """Run an HMC-compatible command against the lab, as a user would; returns its output."""
    env = os.environ | {"OPENLPM_HMC": setup.lab.hmc_url}
    proc = await asyncio.create_subprocess_exec(
        str(BIN / argv[0]), *argv[1:], env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        async with asyncio.timeout(CLI_TIMEOUT_S):
            out, _ = await proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    if check and proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {proc.returncode}:\n{text}")
    return text


# -- the runs -----------------------------------------------------------------------------


Measure = Callable[[int], Coroutine[Any, Any, Sample]]


async def run_all(setup: Setup, runs: int) -> list[Sample]:
    samples: list[Sample] = []
    async with httpx.AsyncClient(base_url=setup.lab.hmc_url, timeout=30.0) as http:
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
                    f"downtime {sample.downtime_ms:.0f} ms, {sample.mib_sent:.0f} MiB at "
                    f"{sample.mib_per_s:.0f} MiB/s (boot and fill took {sample.boot_s:.0f} s)")
                samples.append(sample)
    return samples


def medians(samples: list[Sample], path: str) -> dict[str, float]:
    mine = [s for s in samples if s.path == path]
    return {
        "total_s": statistics.median(s.total_s for s in mine),
        "downtime_ms": statistics.median(s.downtime_ms for s in mine),
        "mib_sent": statistics.median(s.mib_sent for s in mine),
        "stream_s": statistics.median(s.stream_s for s in mine),
        "mib_per_s": statistics.median(s.mib_per_s for s in mine),
    }


def ratios(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {
        "total_time": b["total_s"] / a["total_s"],
        "throughput": b["mib_per_s"] / a["mib_per_s"],
        "extra_total_s": b["total_s"] - a["total_s"],
        "downtime_diff_ms": b["downtime_ms"] - a["downtime_ms"],
    }


def targets(b: dict[str, float], r: dict[str, float]) -> dict[str, bool]:
    """The performance targets of DESIGN.md, met or not by the medians."""
    return {
        "throughput >= 0.95 x QEMU's": r["throughput"] >= 0.95,
        "migrlpar <= QEMU's time + 0.5 s": r["extra_total_s"] <= 0.5,
        "downtime within 20 ms of QEMU's": abs(r["downtime_diff_ms"]) <= 20,
        "downtime <= 100 ms": b["downtime_ms"] <= 100,
    }


def show(samples: list[Sample], summary: dict[str, Any]) -> None:
    table = Table(title=f"Migration of a {summary['memory_mb']} MiB partition with "
                  f"{summary['fill_mb']} MiB of random data ({summary['host']['accel']}, "
                  f"{summary['runs']} runs, medians)")
    for column in ("path", "total s", "downtime ms", "MiB sent", "MiB/s"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for s in samples:
        table.add_row(f"  run {s.run} {PATH_LABELS[s.path]}", f"{s.total_s:.2f}",
                      f"{s.downtime_ms:.0f}", f"{s.mib_sent:.0f}", f"{s.mib_per_s:.1f}",
                      style="dim")
    for path in (QEMU_PATH, OPENLPM_PATH):
        m = summary["medians"][path]
        table.add_row(PATH_LABELS[path], f"{m['total_s']:.2f}", f"{m['downtime_ms']:.0f}",
                      f"{m['mib_sent']:.0f}", f"{m['mib_per_s']:.1f}", style="bold")
    r = summary["ratios"]
    table.add_row("(b)/(a) total time", f"{r['total_time']:.2f}×", "", "", "")
    table.add_row("(b)/(a) throughput", "", "", "", f"{r['throughput']:.2f}×")
    table.add_row("(b)−(a) downtime", "", f"{r['downtime_diff_ms']:+.0f}", "", "")
    out = Console(highlight=False)
    out.print(table)
    for target, met in summary["targets"].items():
        out.print(f"  {'met    ' if met else 'MISSED '} {target}")


def host_info(accel: str) -> dict[str, Any]:
    version = subprocess.run([QEMU_BINARY, "--version"], capture_output=True, text=True,
                             check=False).stdout.split("\n", 1)[0]
    return {"nproc": os.cpu_count(), "accel": accel, "qemu": version,
            "kernel": platform.release(), "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg()}


async def bench(args: argparse.Namespace) -> tuple[list[Sample], dict[str, Any]]:
    started = time.monotonic()
    lab = await site.up(site.LabSpec(
        prefix=PREFIX, systems=2, cpus=4, memory_mb=max(SYSTEM_MEMORY_MB, 2 * args.memory_mb),
        hmc_port=site.free_port(), make_default=False,
        partition_args=f"openlpm.fill_mb={args.fill_mb}"), say=say)
    image = PartitionImage.locate(site.IMAGE_DIR)
    boot = BootImage(image.kernel, image.initrd, f"{KERNEL_ARGS} openlpm.fill_mb={args.fill_mb}")
    setup = Setup(lab=lab, memory_mb=args.memory_mb, fill_mb=args.fill_mb,
                  qemu=QemuSettings(binary=QEMU_BINARY, accel=lab.accel, boot=boot))
    host = host_info(lab.accel)
    samples = await run_all(setup, args.runs)
    a, b = medians(samples, QEMU_PATH), medians(samples, OPENLPM_PATH)
    r = ratios(a, b)
    return samples, {
        "bench": "migration", "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": args.runs, "fill_mb": args.fill_mb, "memory_mb": args.memory_mb,
        "host": host, "medians": {QEMU_PATH: a, OPENLPM_PATH: b}, "ratios": r,
        "targets": targets(b, r), "definitions": Sample.__doc__,
        "samples": [asdict(s) | {"mib_sent": s.mib_sent, "mib_per_s": s.mib_per_s}
                    for s in samples],
        "bench_s": time.monotonic() - started,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    if os.geteuid() != 0 or shutil.which(QEMU_BINARY) is None:
        say("the bench needs root (network namespaces) and qemu-system-x86_64")
        return 1
    try:
        samples, summary = asyncio.run(bench(args))
    except BenchError as exc:
        say(f"bench failed: {exc}")
        return 1
    finally:
        # A fresh event loop, so the lab goes down even after Ctrl-C.
        asyncio.run(site.down(PREFIX, quiet=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    show(samples, summary)
    say(f"results written to {args.out} (the bench took {summary['bench_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
