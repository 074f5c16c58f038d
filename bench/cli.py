"""Command latency benchmark: how long a listing command takes from process start.

One lab (two systems, two partitions on sys1, not activated: a listing does not need them
running). Each round runs, as new processes and in an order that rotates round by round:

(a) the baseline: ``python -c pass`` with the interpreter of the console scripts (its
    start-up and ``site``, the venv's .pth files included: what every command pays);
(a') ``python -I -S -c pass``: the interpreter alone, the floor no Python command goes under;
(b) ``lssyscfg -r lpar -m sys1 -F name,state`` (one GET, the console asks sys1's agent);
(c) ``lssyscfg -r sys -F name,state`` (one GET, the console asks every agent);
(b') (b) in the environment the bench was given, whose ``PYTHONDONTWRITEBYTECODE`` (set on
    this machine) leaves openlpm's own modules compiled from source at every run.

(a) to (c) run with bytecode caches, as an installed package has them (pip compiles them):
in a directory of the bench's (``PYTHONPYCACHEPREFIX``), written by an unmeasured run.

Besides, from the bench's own process: (d) the console's answer to (b)'s GET on a
kept-alive connection (what the console and agent take), (e) the same GET through the
listing's client (``ConsoleReader``) on a new connection each time (with its TLS
handshake); and the listing's imports (``-X importtime``, cumulative time of
``openlpm.cli.lssyscfg``). Prints a table and writes JSON with every sample, medians and
p95s, and whether (b) meets the 150 ms target of issue 21.

Usage: python bench/cli.py [--rounds 30] [--out F]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from benchlab import BIN, BenchError, run_bench, run_cli, say
from rich.console import Console
from rich.table import Table

from openlpm.clients.console_reader import ConsoleReader
from openlpm.lab import site

PREFIX = "clib"
HMC_PORT = 8580  # not 8480: other labs of this machine use that
SYSTEM = site.system_name(1)
PARTITIONS = ("p1", "p2")
PROFILE = ("name={},profile_name=default,min_mem=128,desired_mem=256,max_mem=512,"
           "min_procs=1,desired_procs=1,max_procs=2")
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cli.json"
TARGET_MS = 150.0
IMPORT_RUNS = 5
COMMANDS: dict[str, list[str]] = {
    "noop": [sys.executable, "-c", "pass"],
    "noop_isolated": [sys.executable, "-I", "-S", "-c", "pass"],
    "lpar": [str(BIN / "lssyscfg"), "-r", "lpar", "-m", SYSTEM, "-F", "name,state"],
    "sys": [str(BIN / "lssyscfg"), "-r", "sys", "-F", "name,state"],
}
UNCACHED = "lpar_uncached"  # (b), in the environment as given
LABELS = {"noop": "(a) python -c pass (baseline)",
          "noop_isolated": "(a') python -I -S -c pass (the floor)",
          "lpar": "(b) lssyscfg -r lpar -m sys1 -F name,state",
          "sys": "(c) lssyscfg -r sys -F name,state",
          UNCACHED: "(b') (b) as given (PYTHONDONTWRITEBYTECODE={})",
          "console": "(d) console's answer to (b)'s GET (kept-alive)",
          "reader": "(e) (b)'s GET by ConsoleReader, new TLS connection",
          "imports": "    imports of openlpm.cli.lssyscfg (-X importtime)"}


def run_timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall time of one new process, start to exit, in ms; and what it printed."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr}")
    return elapsed, done.stdout


def import_ms(env: dict[str, str]) -> float:
    """The listing's imports in one run, by ``-X importtime`` (microseconds, cumulative)."""
    done = subprocess.run([sys.executable, "-X", "importtime", *COMMANDS["lpar"]], env=env,
                          capture_output=True, text=True, check=True)
    found = re.search(r"\|\s*(\d+) \| openlpm\.cli\.lssyscfg$", done.stderr, re.MULTILINE)
    if not found:
        raise BenchError(f"no import time of openlpm.cli.lssyscfg in:\n{done.stderr[-2000:]}")
    return int(found.group(1)) / 1000


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def stats(values: list[float]) -> dict[str, Any]:
    return {"median_ms": statistics.median(values),
            "p95_ms": sorted(values)[max(0, round(len(values) * 0.95) - 1)],
            "samples_ms": [round(v, 2) for v in values]}


async def bench(rounds: int) -> dict[str, Any]:
    started = time.monotonic()
    load_before = os.getloadavg()
    lab = await site.up(site.LabSpec(prefix=PREFIX, systems=2, cpus=4, memory_mb=2048,
                                     hmc_port=HMC_PORT, make_default=False),
                        say=lambda text: say(f"[dim]{text}[/dim]"))
    for name in PARTITIONS:
        await run_cli(lab, "mksyscfg", "-r", "lpar", "-m", SYSTEM, "-i", PROFILE.format(name))
    given = os.environ | site.client_env(lab)
    with tempfile.TemporaryDirectory(prefix="clib-pycache-") as caches:
        env = {k: v for k, v in given.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
            "PYTHONPYCACHEPREFIX": caches}
        samples = await measure(lab, rounds, env, given)
    return summarize(samples, lab, rounds, load_before, time.monotonic() - started)


async def measure(lab: site.LabState, rounds: int, env: dict[str, str],
                  given: dict[str, str]) -> dict[str, list[float]]:
    """Every sample; ``env`` with bytecode caches, ``given`` the environment as it was."""
    expected = "".join(f"{name},Not Activated\n" for name in PARTITIONS)
    for argv in COMMANDS.values():  # once, unmeasured: bytecode caches, the console's warm-up
        run_timed(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in LABELS}
    names = [*COMMANDS, UNCACHED]
    path = f"/systems/{SYSTEM}/partitions"
    tls = site.console_trust(lab)
    async with site.console_client(lab, timeout=60) as http:
        for i in range(rounds):
            for name in names[i % len(names):] + names[:i % len(names)]:
                elapsed, out = run_timed(COMMANDS["lpar" if name == UNCACHED else name],
                                         given if name == UNCACHED else env)
                if name in ("lpar", UNCACHED) and out != expected:
                    raise BenchError(f"lssyscfg printed {out!r}, not {expected!r}")
                samples[name].append(elapsed)
            samples["console"].append(await _answer_ms(http, path))
            samples["reader"].append(_reader_ms(lab, path, tls))
    samples["imports"] = [import_ms(env) for _ in range(IMPORT_RUNS)]
    return samples


async def _answer_ms(http: httpx.AsyncClient, path: str) -> float:
    began = time.perf_counter()
    response = await http.get(path)
    response.raise_for_status()
    return (time.perf_counter() - began) * 1000


def _reader_ms(lab: site.LabState, path: str, tls: ssl.SSLContext) -> float:
    def one() -> None:
        with ConsoleReader(lab.hmc_url, token=site.console_token(lab), tls=tls) as reader:
            reader.get(path)

    return timed(one)


def summarize(samples: dict[str, list[float]], lab: site.LabState, rounds: int,
              load_before: tuple[float, float, float], took: float) -> dict[str, Any]:
    results = {name: stats(values) for name, values in samples.items()}
    lpar = results["lpar"]
    return {
        "bench": "cli", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {"node": platform.node(), "nproc": os.cpu_count(),
                 "kernel": platform.release(), "python": platform.python_version(),
                 "accel": lab.accel, "load_before": load_before,
                 "load_after": os.getloadavg(),
                 "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", "")},
        "rounds": rounds, "results": results,
        "lpar_over_noop_ms": lpar["median_ms"] - results["noop"]["median_ms"],
        "target_ms": TARGET_MS,
        "target_met": lpar["median_ms"] <= TARGET_MS,
        "target_met_p95": lpar["p95_ms"] <= TARGET_MS,
        "bench_s": took,
    }


def show(summary: dict[str, Any]) -> None:
    table = Table(title=f"A listing command from process start ({summary['rounds']} rounds, "
                  f"load {summary['host']['load_before'][0]:.1f} before)")
    for column in ("measure", "median ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for name, label in LABELS.items():
        result = summary["results"][name]
        table.add_row(label.format(summary["host"]["PYTHONDONTWRITEBYTECODE"] or "unset"),
                      f"{result['median_ms']:.1f}", f"{result['p95_ms']:.1f}")
    Console().print(table)
    lpar = summary["results"]["lpar"]
    print(f"(b) - (a) = {summary['lpar_over_noop_ms']:.1f} ms; target (b) <= "
          f"{summary['target_ms']:.0f} ms: median {'met' if summary['target_met'] else 'MISSED'}"
          f" ({lpar['median_ms']:.0f}), p95 {'met' if summary['target_met_p95'] else 'MISSED'}"
          f" ({lpar['p95_ms']:.0f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    return run_bench(PREFIX, lambda: bench(args.rounds), lambda summary: summary, show,
                     args.out)


if __name__ == "__main__":
    sys.exit(main())
