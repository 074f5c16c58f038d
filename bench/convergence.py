"""Convergence benchmark: a partition that dirties memory faster than the link carries it.

One lab whose link is limited to 1 Gbit/s (``tc`` token bucket on each system's port, a
common migration network; the lab's own link carries far more than QEMU sends); one
partition (384 MiB) whose workload rewrites 96 MiB of memory without pause
(``openlpm.dirty_mb=96``). It migrates from one system to the other under each policy in
turn, every migration bounded by ``-w``:

(a) QEMU's default parameters, the baseline: a fixed 300 ms downtime limit
    (``convergence=precopy,max_downtime_ms=300``, so the limit never grows);
(b) ``precopy``: the downtime limit grows by steps up to 1000 ms (openlpm's default);
(c) ``auto-converge`` with QEMU's 300 ms limit: QEMU throttles the guest (refused under
    TCG, where it corrupts the guest: the table says so instead of a number);
(d) ``postcopy`` with QEMU's 300 ms limit: switching to post-copy after 5 passes.

For each: the outcome, total time, downtime, passes, MiB sent, and the guest's slowdown
during the migration (the median interval between its once-a-second console ticks while
it migrated, over the same before it). Prints a table and writes JSON.

Usage: python bench/convergence.py [--wait-minutes 1] [--out F]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from benchlab import BenchError, run_bench, say
from rich.console import Console
from rich.table import Table

from openlpm.lab import site
from openlpm.lab.network import NODE_INTERFACE

PREFIX = "benchc"
LINK_RATE = "1gbit"
SYSTEMS = (site.system_name(1), site.system_name(2))
NAME = "busy"
PROFILE = ("name=busy,profile_name=default,min_mem=128,desired_mem=384,max_mem=512,"
           "min_procs=1,desired_procs=1,max_procs=1,kernel_args=openlpm.dirty_mb=96")
# (c) and (d) keep QEMU's 300 ms limit, so what they add to (a) shows alone.
POLICIES = (("(a) QEMU defaults", "precopy", 300), ("(b) precopy", "precopy", 1000),
            ("(c) auto-converge", "auto-converge", 300), ("(d) postcopy", "postcopy", 300))
BIN = Path(sys.executable).parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "convergence.json"
BOOT_TIMEOUT_S = 180.0



def run(lab: site.LabState, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], text=True, capture_output=True,
                          env=os.environ | site.client_env(lab),
                          check=False)


async def tick_stamps(http: httpx.AsyncClient, system: str) -> list[float]:
    lines = (await http.get(f"/systems/{system}/partitions/{NAME}/console",
                            params={"lines": 2000})).json()
    return [line["t"] for line in lines if line["text"].startswith("tick ")]


def median_gap(stamps: list[float], start: float, end: float) -> float | None:
    inside = [t for t in stamps if start <= t <= end]
    gaps = [b - a for a, b in zip(inside, inside[1:], strict=False)]
    return statistics.median(gaps) if gaps else None


async def one(http: httpx.AsyncClient, lab: site.LabState, label: str, convergence: str,
              max_downtime_ms: int, where: str, wait_minutes: float) -> tuple[dict[str, Any], str]:
    other = SYSTEMS[1] if where == SYSTEMS[0] else SYSTEMS[0]
    began = time.time()
    result = run(lab, "migrlpar", "-o", "m", "-m", where, "-t", other, "-p", NAME,
                 "-w", str(wait_minutes), "-i",
                 f"convergence={convergence},max_downtime_ms={max_downtime_ms}")
    ended = time.time()
    if result.returncode == 6:
        code = result.stderr.split()[0] if result.stderr else "refused"
        return {"path": label, "outcome": f"refused ({code})"}, where
    record = (await http.get(f"/partitions/{NAME}/migration")).json()
    journal = (await http.get(f"/migrations/{record['id']}/journal")).json()
    now = other if record["state"] == "Migration Complete" else where
    await asyncio.sleep(8)  # ticks after the migration, on whichever system runs it
    stamps = sorted(set(await tick_stamps(http, now)))
    before = median_gap(stamps, began - 20, began)
    during = median_gap(stamps, began, ended)
    outcome = "completed" if record["state"] == "Migration Complete" else \
        f"stopped ({record['error_code']})"
    if any(e["phase"] == "post-copy" for e in journal):
        outcome += " in post-copy"
    return {
        "path": label, "outcome": outcome, "total_s": ended - began,
        "downtime_ms": record["downtime_ms"],
        "passes": record["rounds"][-1]["number"] if record["rounds"] else 0,
        "postcopy": any(e["phase"] == "post-copy" for e in journal),
        "mib_sent": record["bytes_transmitted"] / 2**20,
        "slowdown": during / before if before and during else None,
        "rounds": record["rounds"],
    }, now


def limit_link(namespace: str) -> None:
    """Let the system's port send at most LINK_RATE (its egress: the migration stream)."""
    subprocess.run(["ip", "netns", "exec", namespace, "tc", "qdisc", "add", "dev",
                    NODE_INTERFACE, "root", "tbf", "rate", LINK_RATE, "burst", "1mb",
                    "latency", "100ms"], check=True)


async def bench(wait_minutes: float) -> dict[str, Any]:
    started = time.monotonic()
    lab = await site.up(site.LabSpec(prefix=PREFIX, systems=2, cpus=4, memory_mb=2048,
                                     hmc_port=site.free_port(), make_default=False),
                        say=lambda text: say(f"[dim]{text}[/dim]"))
    for index in range(1, len(SYSTEMS) + 1):
        limit_link(site.system_node(PREFIX, index).namespace)
    where = SYSTEMS[0]
    for argv in (("mksyscfg", "-r", "lpar", "-m", where, "-i", PROFILE),
                 ("chsysstate", "-r", "lpar", "-m", where, "-o", "on", "-n", NAME)):
        if run(lab, *argv).returncode != 0:
            raise BenchError(f"{' '.join(argv)} failed")
    results = []
    async with site.console_client(lab, timeout=60) as http:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while len(await tick_stamps(http, where)) < 25:
            if time.monotonic() > deadline:
                raise BenchError("the partition did not start ticking")
            await asyncio.sleep(1)
        for label, convergence, max_downtime_ms in POLICIES:
            say(f"{label}: migrating from {where}")
            result, where = await one(http, lab, label, convergence, max_downtime_ms,
                                      where, wait_minutes)
            say(f"{label}: {result['outcome']}")
            results.append(result)
    return {"bench": "convergence", "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "accel": lab.accel, "link_rate": LINK_RATE, "wait_minutes": wait_minutes,
            "results": results,
            "bench_s": time.monotonic() - started}


def show(summary: dict[str, Any]) -> None:
    table = Table(title=f"Migration of a partition rewriting 96 MiB faster than the link "
                  f"({summary['accel']}, -w {summary['wait_minutes']})")
    for column in ("path", "outcome", "total s", "downtime ms", "passes", "MiB sent",
                   "guest slowdown"):
        table.add_column(column, justify="left" if column in ("path", "outcome") else "right")

    def cell(value: Any, form: str) -> str:
        return "" if value is None else format(value, form)

    for r in summary["results"]:
        table.add_row(r["path"], r["outcome"], cell(r.get("total_s"), ".1f"),
                      cell(r.get("downtime_ms"), "d"), cell(r.get("passes"), "d"),
                      cell(r.get("mib_sent"), ".0f"), cell(r.get("slowdown"), ".2f") + (
                          "x" if r.get("slowdown") else ""))
    Console(width=120).print(table)
    print("guest slowdown: median interval between the guest's 1 s ticks during the "
          "migration over the same before it")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait-minutes", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    return run_bench(PREFIX, lambda: bench(args.wait_minutes), lambda summary: summary, show,
                     args.out)


if __name__ == "__main__":
    sys.exit(main())
