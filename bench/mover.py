"""Mover benchmark: the stream through the mover services, plain, encrypted and with its
options, against QEMU migrating directly over the same lab link.

Paths, each migrating a fresh 1024 MiB partition with 400 MiB of random data from sys1 to
sys2 (the setup of bench/migration.py), alternating their order run by run:

(a) direct: QEMU to QEMU, no openlpm in the path (the baseline);
(b) mover: ``migrlpar -o m`` through the mover services, one stream in the clear
    (``stream_encryption=0`` on both systems);
(c) mover + TLS: the same, encrypted between the movers (TLS 1.3, the default);
(d) mover + zstd: ``-i compression=zstd`` (one compressed stream, in the clear);
(e) mover + multifd: ``-i streams=4`` (four streams, four connections, in the clear);
(f) mover + multifd + TLS: four encrypted streams.

Every path runs without QEMU's default 128 MiB/s bandwidth cap (openlpm lifts it; the
direct path is given the same parameter). Throughput is the partition's memory moved per
second of stream: the direct path's MiB sent over each path's stream time, so a
compressed stream that sends fewer bytes for the same memory counts as faster. Prints a
table and writes JSON with the ratios.

Usage: python bench/mover.py [--runs N] [--out F]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import migration as m
from benchlab import run_bench, say
from rich.console import Console
from rich.table import Table

from openlpm.lab import site

DIRECT = m.QEMU_PATH
PATHS = {DIRECT: "(a) direct QEMU → QEMU", "mover": "(b) mover", "tls": "(c) mover + TLS",
         "zstd": "(d) mover + zstd", "multifd": "(e) mover + 4 streams",
         "multifd_tls": "(f) mover + 4 streams + TLS"}
# (migrlpar options, stream encryption) of each path through the movers.
OPTIONS = {"mover": ((), False), "tls": ((), True),
           "zstd": (("-i", "compression=zstd"), False),
           "multifd": (("-i", "streams=4"), False),
           "multifd_tls": (("-i", "streams=4"), True)}
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "mover.json"


async def encrypting(http: httpx.AsyncClient, encrypted: bool,
                     migration: Awaitable[m.Sample]) -> m.Sample:
    """Set both systems' stream encryption, then migrate."""
    for system in (m.SOURCE, m.TARGET):
        response = await http.patch(f"/systems/{system}/migration-defaults",
                                    json={"stream_encryption": encrypted})
        response.raise_for_status()
    return await migration


async def measure(runs: int) -> dict[str, Any]:
    started = time.monotonic()
    args = argparse.Namespace(fill_mb=400, memory_mb=1024, runs=runs)
    setup = await m.make_setup(args)
    samples: list[m.Sample] = []
    async with site.console_client(setup.lab, timeout=30.0) as http:
        measures: dict[str, Callable[[int], Awaitable[m.Sample]]] = {
            DIRECT: lambda run: m.qemu_direct(setup, run)}
        for path, (options, encrypted) in OPTIONS.items():
            measures[path] = (lambda o, p, e: lambda run: encrypting(
                http, e, m.openlpm_migration(setup, http, run, o, p)))(options, path, encrypted)
        order = list(PATHS)
        for run in range(1, runs + 1):
            for path in order if run % 2 else reversed(order):
                sample = await measures[path](run)
                say(f"run {run}/{runs}: {PATHS[path]}: {sample.total_s:.2f} s, stream "
                    f"{sample.stream_s:.2f} s, downtime {sample.downtime_ms:.0f} ms, "
                    f"{sample.mib_sent:.0f} MiB sent")
                samples.append(sample)
    medians = {path: {key: statistics.median(getattr(s, key) if key != "mib_sent"
                                             else s.mib_sent
                                             for s in samples if s.path == path)
                      for key in ("total_s", "stream_s", "downtime_ms", "mib_sent")}
               for path in PATHS}
    memory_mib = medians[DIRECT]["mib_sent"]
    for values in medians.values():
        values["mib_per_s"] = memory_mib / values["stream_s"]

    def ratio(path: str) -> float:
        return medians[path]["mib_per_s"] / medians[DIRECT]["mib_per_s"]

    return {
        "bench": "mover", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": m.host_info(setup.lab.accel), "runs": runs, "medians": medians,
        "mover_vs_direct": ratio("mover"), "tls_vs_direct": ratio("tls"),
        "zstd_vs_direct": ratio("zstd"), "multifd_vs_direct": ratio("multifd"),
        "multifd_tls_vs_direct": ratio("multifd_tls"),
        "downtime_delta_ms": medians["mover"]["downtime_ms"] - medians[DIRECT]["downtime_ms"],
        "guest_pause_ms": {path: m.medians(samples, path)["guest_pause_ms"] for path in PATHS},
        "cpu_s": {path: m.cpu_medians(samples, path) for path in PATHS},
        "samples": [asdict(s) | {"mib_sent": s.mib_sent} for s in samples],
        "bench_s": time.monotonic() - started,
    }


def show(summary: dict[str, Any]) -> None:
    table = Table(title=f"Stream through the movers ({summary['host']['accel']}, "
                  f"{summary['runs']} runs, medians)")
    for column in ("path", "total s", "stream s", "downtime ms", "MiB sent (QEMU)",
                   "memory MiB/s", "vs direct"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for path, label in PATHS.items():
        values = summary["medians"][path]
        table.add_row(label, f"{values['total_s']:.2f}", f"{values['stream_s']:.2f}",
                      f"{values['downtime_ms']:.0f}", f"{values['mib_sent']:.0f}",
                      f"{values['mib_per_s']:.0f}",
                      f"{values['mib_per_s'] / summary['medians'][DIRECT]['mib_per_s']:.2f}x")
    Console(width=120).print(table)
    print(f"downtime through the movers: {summary['downtime_delta_ms']:+.0f} ms against "
          f"direct (QEMU's own figure, medians)")
    for path, roles in summary["cpu_s"].items():
        print(f"{PATHS[path]}: guest pause {m._ms(summary['guest_pause_ms'][path])} ms; CPU s "
              "(medians): " + "; ".join(
                  f"{role} {u['cpu_s']:.2f} (busiest thread {u['busiest_thread']} "
                  f"{u['busiest_cpu_s']:.2f})" for role, u in roles.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    return run_bench(m.PREFIX, lambda: measure(args.runs), lambda summary: summary, show,
                     args.out)


if __name__ == "__main__":
    raise SystemExit(main())
