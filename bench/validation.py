"""Validation benchmark: how long ``migrlpar -o v`` takes for one running partition.

One lab, one running partition on sys1 whose mobility hook answers. Each round measures,
alternating the order:

(a) the baseline: ``GET /systems/sys1/partitions/P`` on the console, the cheapest question
    about the partition (one console -> agent round trip);
(b) ``POST /validations`` for P to sys2: every check, with the mover probe and the
    guest's answer;
(c) ``migrlpar -o v`` as a user runs it (a new Python process each time).

The target's first CPU model answer after the lab is up is reported apart: the agents warm
that cache when they start, and this shows whether it holds. Prints a table and writes
JSON with every sample, medians, p95s, the ratio (b)/(a) and whether (b) meets the
200 ms target of issue #3.

Usage: python bench/validation.py [--rounds 30] [--out F]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
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

PREFIX = "benchv"
SOURCE, TARGET, PARTITION = site.system_name(1), site.system_name(2), "p1"
PROFILE = ("name=p1,profile_name=default,min_mem=128,desired_mem=256,max_mem=512,"
           "min_procs=1,desired_procs=1,max_procs=2")
BIN = Path(sys.executable).parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "validation.json"
TARGET_MS = 200.0
BOOT_TIMEOUT_S = 120.0



def run(lab: site.LabState, *argv: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(BIN / argv[0]), *argv[1:]], text=True, capture_output=True,
                            env=os.environ | site.client_env(lab),
                            check=False)
    if result.returncode not in (0, 6):
        raise BenchError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr}")
    return result


async def wait_for_hook(http: httpx.AsyncClient, request: dict[str, str]) -> None:
    """Until the guest has booted far enough for its mobility hook to answer."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        report = (await http.post("/validations", json=request)).json()
        if not any(f["code"] == "HSCLA246" for f in report["findings"]):
            return
        await asyncio.sleep(1.0)
    raise BenchError(f"the mobility hook of {PARTITION} did not answer in {BOOT_TIMEOUT_S} s")


async def timed(call: Any) -> float:
    started = time.perf_counter()
    response = await call
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


async def bench(rounds: int) -> dict[str, Any]:
    started = time.monotonic()
    lab = await site.up(site.LabSpec(prefix=PREFIX, systems=2, cpus=4, memory_mb=2048,
                                     hmc_port=site.free_port(), make_default=False),
                        say=lambda text: say(f"[dim]{text}[/dim]"))
    request = {"source": SOURCE, "target": TARGET, "partition": PARTITION}
    async with site.console_client(lab, timeout=60) as http:
        first_ms = await timed(http.get(f"/systems/{TARGET}/cpu-models"))
        run(lab, "mksyscfg", "-r", "lpar", "-m", SOURCE, "-i", PROFILE)
        run(lab, "chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on", "-n",
            PARTITION)
        await wait_for_hook(http, request)
        samples: dict[str, list[float]] = {"baseline": [], "validate": [], "server": [],
                                           "cli": []}
        for i in range(rounds):
            pair = [("baseline", http.get(f"/systems/{SOURCE}/partitions/{PARTITION}")),
                    ("validate", http.post("/validations", json=request))]
            for name, call in pair if i % 2 == 0 else reversed(pair):
                samples[name].append(await timed(call))
            report = (await http.post("/validations", json=request)).json()
            if any(f["severity"] == "error" for f in report["findings"]):
                raise BenchError(f"validation found errors: {report['findings']}")
            samples["server"].append(report["elapsed_ms"])
            cli_started = time.perf_counter()
            run(lab, "migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p",
                PARTITION)
            samples["cli"].append((time.perf_counter() - cli_started) * 1000)
    summary = {name: {"median_ms": statistics.median(values),
                      "p95_ms": sorted(values)[max(0, round(len(values) * 0.95) - 1)],
                      "samples_ms": [round(v, 2) for v in values]}
               for name, values in samples.items()}
    return {
        "bench": "validation", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(), "accel": lab.accel, "rounds": rounds,
        "first_cpu_models_ms": round(first_ms, 2), "results": summary,
        "ratio_validate_to_baseline": summary["validate"]["median_ms"]
        / summary["baseline"]["median_ms"],
        "target_ms": TARGET_MS,
        "target_met": summary["validate"]["median_ms"] <= TARGET_MS,
        "bench_s": time.monotonic() - started,
    }


def show(summary: dict[str, Any]) -> None:
    table = Table(title=f"Validation of one running partition ({summary['rounds']} rounds, "
                  f"{summary['accel']})")
    for column in ("measure", "median ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    labels = {"baseline": "(a) GET partition (baseline)",
              "validate": "(b) POST /validations",
              "server": "    of which inside the console",
              "cli": "(c) migrlpar -o v (new process)"}
    for name, label in labels.items():
        result = summary["results"][name]
        table.add_row(label, f"{result['median_ms']:.1f}", f"{result['p95_ms']:.1f}")
    Console().print(table)
    verdict = "met" if summary["target_met"] else "MISSED"
    print(f"(b)/(a) = {summary['ratio_validate_to_baseline']:.1f}x; target (b) <= "
          f"{summary['target_ms']:.0f} ms: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    return run_bench(PREFIX, lambda: bench(args.rounds), lambda summary: summary, show,
                     args.out)


if __name__ == "__main__":
    sys.exit(main())
