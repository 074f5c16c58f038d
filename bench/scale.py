"""Site scale benchmark: how the console's cost grows with the number of managed systems.

One run brings up two labs in turn under one prefix, each taken down before the next:
(1) the baseline, a 2-system lab, then (2) a lab of ``--systems`` systems (40, the lab's
maximum, by default). Each system has ``--partitions-per-system`` small partitions
(256 MB, 1 vCPU, the lab's quick busybox image), all defined; ``sys1p1``, the one
validated, runs (its mobility hook must answer), and ``--running-per-system`` more on
every system run too (none by default: 160 TCG guests would saturate two cores, and the
bench would measure CPU starvation instead of the console). Each lab measures the same
things, in rounds that alternate their order:

- ``lssyscfg -r sys -F name,state``, a new process (as a user runs it);
- ``lssyscfg -r lpar -m sys1 -F name,state``, a new process: one system's partitions;
- the console API requests behind those two (``GET /systems``, the Servers page's own
  request, and ``GET /systems/sys1/partitions``), on a kept-open signed-in client;
- ``POST /validations`` for sys1p1 from sys1 to sys2, with the report's ``elapsed_ms``;
- the web console's Servers page in Debian's chromium (Playwright), from navigation
  until its table has a row per system (skipped with ``--no-browser``).

Then the ratio of each median (and p95), N systems over 2, against the 2x target of
issue 21. With ``--profile``, py-spy samples the console during as many rounds again
after the measured ones (not during them), and its raw stacks are written beside the
JSON. Prints a table and writes JSON with every sample and host information.

Usage: python bench/scale.py [--systems 40] [--rounds 30] [--out F]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from benchlab import BIN, BenchError, run_bench, run_cli, say, thread_cpu_s
from rich.console import Console
from rich.table import Table

from openlpm.lab import site

PREFIX = "scale"
BASELINE_SYSTEMS = 2
SOURCE, TARGET = site.system_name(1), site.system_name(2)
# Partition names are unique in the site (the target may not have one of the same name).
PARTITION = f"{SOURCE}p1"
# What the agents account for; nothing is reserved on the host. Four partitions of
# 256 MB and one vCPU fit, with room for the validated one on the target.
SYSTEM_CPUS, SYSTEM_MEMORY_MB = 8, 2048
PARTITION_MB = 256
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "scale.json"
TARGET_RATIO = 2.0
BOOT_TIMEOUT_S = 300.0
# Starting 40 agents and 40 movers at once on two cores takes longer than the lab's own
# 60 s wait for each service's first answer.
LAB_READY_TIMEOUT_S = 600.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PAGE_TIMEOUT_MS = 120_000
QEMU_BINARY = "qemu-system-x86_64"

MEASURES = {
    "cli_sys": "lssyscfg -r sys (process)",
    "cli_lpar": "lssyscfg -r lpar -m sys1 (process)",
    "api_systems": "GET /systems (Servers page)",
    "api_partitions": "GET /systems/sys1/partitions",
    "validate": "POST /validations",
    "validate_server": "  inside the console",
    "page": "Servers page in chromium",
}

Timed = Callable[[], Awaitable[float]]


def profile_of(name: str) -> dict[str, Any]:
    return {"name": name, "min_mem": 128, "desired_mem": PARTITION_MB,
            "max_mem": PARTITION_MB, "min_procs": 1, "desired_procs": 1, "max_procs": 1}


def checked(response: httpx.Response) -> httpx.Response:
    if response.is_error:
        raise BenchError(f"{response.request.method} {response.request.url.path} answered "
                         f"{response.status_code}: {response.text[:500]}")
    return response


def lab_processes(lab: site.LabState) -> dict[str, int]:
    """The lab's processes by role, with its partitions' QEMUs (pidfiles)."""
    found = dict(lab.pids)
    workdir = site.LabState.directory(lab.prefix)
    for pidfile in workdir.glob("*/run/*/qemu.pid"):
        with contextlib.suppress(OSError, ValueError):
            found[f"qemu-{pidfile.parent.parent.parent.name}-{pidfile.parent.name}"] = int(
                pidfile.read_text().strip())
    return found


def cpu_s(pids: dict[str, int]) -> dict[str, float]:
    return {role: sum(thread_cpu_s(pid).values()) for role, pid in pids.items()}


def rss_mb(pids: dict[str, int]) -> float:
    total = 0
    for pid in pids.values():
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/statm").read_text().split()
            total += int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
    return total / 2**20


@contextlib.asynccontextmanager
async def progress(prefix: str, systems: int) -> AsyncIterator[None]:
    """Say every 15 s how far ``lab up`` is: starting many systems takes minutes."""
    started = time.monotonic()

    async def tell() -> None:
        while True:
            await asyncio.sleep(15)
            state = site.LabState.load(prefix)
            say(f"[dim]  ... {time.monotonic() - started:.0f} s: {len(state.systems)} of "
                f"{systems} systems started, {len(state.pids)} processes, load "
                f"{os.getloadavg()[0]:.1f}[/dim]")

    task = asyncio.create_task(tell())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def bring_up(systems: int, accel: str) -> tuple[site.LabState, float]:
    say(f"lab {PREFIX}: {systems} systems")
    started = time.monotonic()
    spec = site.LabSpec(prefix=PREFIX, systems=systems, cpus=SYSTEM_CPUS,
                        memory_mb=SYSTEM_MEMORY_MB, accel=accel, hmc_port=site.free_port(),
                        make_default=False)
    async with progress(PREFIX, systems):
        lab = await site.up(spec, say=lambda text: say(f"[dim]{text}[/dim]"))
    return lab, time.monotonic() - started


async def define_partitions(http: httpx.AsyncClient, lab: site.LabState, per_system: int,
                            running_per_system: int) -> list[tuple[str, str]]:
    """Every system's partitions (sysNp1..sysNpK), defined through the console API;
    returns the ones activated (sys1p1, and the first ``running_per_system`` of every
    system)."""
    names = {s: [f"{s}p{k}" for k in range(1, per_system + 1)] for s in lab.systems}
    gate = asyncio.Semaphore(4)

    async def define(system: str, name: str) -> None:
        async with gate:
            checked(await http.post(f"/systems/{system}/partitions", json=profile_of(name)))

    await asyncio.gather(*(define(s, n) for s in lab.systems for n in names[s]))
    say(f"[dim]{len(lab.systems) * per_system} partitions defined[/dim]")
    running = sorted({(SOURCE, PARTITION), *((s, n) for s in lab.systems
                                             for n in names[s][:running_per_system])})
    for system, name in running:
        checked(await http.post(f"/systems/{system}/partitions/{name}/activate"))
    return running


async def wait_for_hook(http: httpx.AsyncClient, request: dict[str, str]) -> None:
    """Until the partition has booted far enough for its mobility hook to answer."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        report = checked(await http.post("/validations", json=request)).json()
        if not any(f["code"] == "HSCLA246" for f in report["findings"]):
            if any(f["severity"] == "error" for f in report["findings"]):
                raise BenchError(f"validation found errors: {report['findings']}")
            return
        await asyncio.sleep(1.0)
    raise BenchError(f"the mobility hook of {PARTITION} did not answer in {BOOT_TIMEOUT_S} s")


async def stopwatch(call: Awaitable[Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call
    return (time.perf_counter() - started) * 1000, result


def cli_measure(lab: site.LabState, argv: tuple[str, ...], lines: int) -> Timed:
    async def run() -> float:
        ms, out = await stopwatch(run_cli(lab, *argv))
        rows = [line for line in out.splitlines() if line.strip()]
        if len(rows) != lines:
            raise BenchError(f"{' '.join(argv)} listed {len(rows)} lines, not {lines}:\n{out}")
        return float(ms)
    return run


def api_measure(http: httpx.AsyncClient, path: str, items: int) -> Timed:
    async def run() -> float:
        ms, response = await stopwatch(http.get(path))
        body = checked(response).json()
        if len(body) != items:
            raise BenchError(f"GET {path} gave {len(body)} items, not {items}")
        bad = [s["name"] for s in body if s.get("state") in ("No Connection",
                                                             "Version Mismatch")]
        if bad:
            raise BenchError(f"GET {path}: systems not answering: {bad}")
        return float(ms)
    return run


class Validation:
    """POST /validations, keeping the report's own elapsed_ms of each round."""

    def __init__(self, http: httpx.AsyncClient, request: dict[str, str]) -> None:
        self.http, self.request = http, request
        self.server_ms: list[float] = []

    async def __call__(self) -> float:
        ms, response = await stopwatch(self.http.post("/validations", json=self.request))
        report = checked(response).json()
        if any(f["severity"] == "error" for f in report["findings"]):
            raise BenchError(f"validation found errors: {report['findings']}")
        self.server_ms.append(float(report["elapsed_ms"]))
        return float(ms)


class ServersPage:
    """The web console's Servers page in Debian's chromium, signed in once (its session
    cookie); each measure loads the page afresh until its table has a row per system."""

    def __init__(self, lab: site.LabState, systems: int) -> None:
        self.lab, self.systems = lab, systems
        self.url = f"{lab.hmc_url}/console/#/servers"
        self._stack = contextlib.AsyncExitStack()
        self.page: Any = None

    async def __aenter__(self) -> ServersPage:
        from playwright.async_api import async_playwright
        playwright = await self._stack.enter_async_context(async_playwright())
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS)
        self._stack.push_async_callback(browser.close)
        # The lab's console answers HTTPS with its own certificate, which chromium
        # cannot be told to pin from here.
        context = await browser.new_context(ignore_https_errors=True)
        self.page = await context.new_page()
        self.page.set_default_timeout(PAGE_TIMEOUT_MS)
        await self.page.goto(f"{self.lab.hmc_url}/")
        password = site.admin_password_file(self.lab.prefix).read_text().strip()
        await self.page.get_by_label("Password").fill(password)
        await self.page.keyboard.press("Enter")
        await self._rows()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _rows(self) -> None:
        await self.page.wait_for_function(
            "n => document.querySelectorAll('table tbody tr').length === n",
            arg=self.systems, polling="raf")

    async def __call__(self) -> float:
        await self.page.goto("about:blank")
        started = time.perf_counter()
        await self.page.goto(self.url, wait_until="commit")
        await self._rows()
        return (time.perf_counter() - started) * 1000


async def rounds_of(measures: dict[str, Timed], rounds: int,
                    label: str) -> dict[str, list[float]]:
    """Each measure once per round, the order rotating from round to round."""
    samples: dict[str, list[float]] = {name: [] for name in measures}
    order = list(measures)
    for i in range(rounds):
        shift = i % len(order)
        for name in order[shift:] + order[:shift]:
            samples[name].append(await measures[name]())
        if (i + 1) % 10 == 0 or i + 1 == rounds:
            say(f"[dim]  {label}: round {i + 1} of {rounds}[/dim]")
    return samples


def stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(values), 2),
            "p95_ms": round(ordered[max(0, round(len(ordered) * 0.95) - 1)], 2),
            "samples_ms": [round(v, 2) for v in values]}


def per_kind(before: dict[str, float], after: dict[str, float],
             over: float) -> dict[str, float]:
    """CPU used between two readings of ``cpu_s`` by kind of process (hmc, agent,
    mover, qemu, san), divided by ``over``: ms per round, or (``over`` in ms) cores."""
    kinds: dict[str, float] = {}
    for role, used in after.items():
        kind = "qemu" if role.startswith("qemu-") else role.rpartition("-")[2]
        kinds[kind] = kinds.get(kind, 0.0) + (used - before.get(role, used)) * 1000 / over
    return {kind: round(value, 3) for kind, value in sorted(kinds.items())}


async def idle_cpu(pids: dict[str, int], seconds: float = 10.0) -> dict[str, float]:
    """CPU the idle lab uses (cores), by kind of process, over ``seconds``."""
    before = cpu_s(pids)
    await asyncio.sleep(seconds)
    return per_kind(before, cpu_s(pids), seconds * 1000)


async def profiled(console_pid: int, measures: dict[str, Timed], rounds: int,
                   out: Path) -> str:
    """Rounds of ``measures`` with py-spy sampling the console; its raw stacks go to
    ``out``. Returns what happened, for the JSON."""
    spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if spy is None:
        return "py-spy not installed (.venv/bin/pip install py-spy)"
    proc = await asyncio.create_subprocess_exec(
        spy, "record", "-p", str(console_pid), "-f", "raw", "-r", "200", "-o", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    await asyncio.sleep(1.0)
    try:
        await rounds_of(measures, rounds, "profile")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await proc.communicate()
    return f"py-spy exited {proc.returncode}: {err.decode(errors='replace')[-300:]}"


async def measure_site(systems: int, args: argparse.Namespace, accel: str) -> dict[str, Any]:
    """One lab of ``systems`` systems: up, partitions, rounds, down."""
    lab, up_s = await bring_up(systems, accel)
    try:
        return await measure_lab(lab, systems, up_s, args)
    finally:
        say(f"[dim]taking lab {PREFIX} ({systems} systems) down[/dim]")
        await site.down(PREFIX, quiet=True)


async def measure_lab(lab: site.LabState, systems: int, up_s: float,
                      args: argparse.Namespace) -> dict[str, Any]:
    per = args.partitions_per_system
    request = {"source": SOURCE, "target": TARGET, "partition": PARTITION}
    async with site.console_client(lab, timeout=120) as http:
        running = await define_partitions(http, lab, per, args.running_per_system)
        await wait_for_hook(http, request)
        pids = lab_processes(lab)
        idle = await idle_cpu(pids)
        say(f"[dim]idle lab: {idle} cores; {rss_mb(pids):.0f} MiB resident; load "
            f"{os.getloadavg()[0]:.1f}[/dim]")
        validation = Validation(http, request)
        measures: dict[str, Timed] = {
            "cli_sys": cli_measure(lab, ("lssyscfg", "-r", "sys", "-F", "name,state"),
                                   systems),
            "cli_lpar": cli_measure(lab, ("lssyscfg", "-r", "lpar", "-m", SOURCE, "-F",
                                          "name,state"), per),
            "api_systems": api_measure(http, "/systems", systems),
            "api_partitions": api_measure(http, f"/systems/{SOURCE}/partitions", per),
            "validate": validation,
        }
        async with contextlib.AsyncExitStack() as stack:
            if args.browser:
                measures["page"] = await stack.enter_async_context(ServersPage(lab, systems))
            for measure in measures.values():  # warm-up: imports, caches, connections
                await measure()
            validation.server_ms.clear()
            load_before = os.getloadavg()
            cpu_before = cpu_s(pids)
            started = time.monotonic()
            samples = await rounds_of(measures, args.rounds, f"{systems} systems")
            rounds_s = time.monotonic() - started
            cpu_per_round = per_kind(cpu_before, cpu_s(pids), args.rounds)
            profile = None
            if args.profile:
                # The same rounds again (same pacing: the agents' connections are as
                # warm or cold as in the measured ones), the console sampled.
                out = args.out.with_name(f"{args.out.stem}-console-{systems}.txt")
                profile = {"file": str(out), "result": await profiled(
                    lab.pids["hmc"], measures, args.rounds, out)}
    samples["validate_server"] = validation.server_ms
    return {
        "systems": systems, "partitions": systems * per, "accel": lab.accel,
        "running": [f"{s}/{n}" for s, n in running], "lab_up_s": round(up_s, 1),
        "idle_cores": idle, "resident_mib": round(rss_mb(pids)),
        "loadavg_before_rounds": load_before, "loadavg_after_rounds": os.getloadavg(),
        "rounds_s": round(rounds_s, 1),
        "console_cpu_ms_per_round": cpu_per_round.get("hmc", 0.0),
        # Every process of the lab, by kind (hmc, agent, mover, qemu, san).
        "cpu_ms_per_round": cpu_per_round,
        "results": {name: stats(values) for name, values in samples.items()},
        "profile": profile,
    }


def host_info(accel: str) -> dict[str, Any]:
    version = subprocess.run([QEMU_BINARY, "--version"], capture_output=True, text=True,
                             check=False).stdout.split("\n", 1)[0]
    return {"node": platform.node(), "nproc": os.cpu_count(), "accel": accel,
            "qemu": version, "kernel": platform.release(),
            "python": platform.python_version(),
            "memory_mib": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20,
            # Without it httpcore fails an import at every lock it makes (each request).
            "sniffio": importlib.util.find_spec("sniffio") is not None,
            "loadavg_at_start": os.getloadavg()}


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    site.READY_TIMEOUT_S = max(site.READY_TIMEOUT_S, LAB_READY_TIMEOUT_S)
    host = host_info(args.accel)
    baseline = await measure_site(BASELINE_SYSTEMS, args, args.accel)
    # The second lab takes the first one's accelerator: no second probe.
    accel = args.accel if args.accel != "auto" else baseline.get("accel", "auto")
    large = await measure_site(args.systems, args, accel)
    ratios = {}
    for name in baseline["results"]:
        base, big = baseline["results"][name], large["results"][name]
        ratios[name] = {"median": round(big["median_ms"] / base["median_ms"], 2),
                        "p95": round(big["p95_ms"] / base["p95_ms"], 2)}
    return {
        "bench": "scale", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": host | {"accel": large["accel"], "loadavg_at_end": os.getloadavg()},
        "rounds": args.rounds,
        "partitions_per_system": args.partitions_per_system,
        "running_per_system": args.running_per_system, "partition_mb": PARTITION_MB,
        "baseline": baseline, "large": large, "ratios": ratios,
        "target_ratio": TARGET_RATIO,
        "targets_met": {name: r["median"] <= TARGET_RATIO for name, r in ratios.items()},
        "bench_s": round(time.monotonic() - started, 1),
    }


def show(summary: dict[str, Any]) -> None:
    base, large = summary["baseline"], summary["large"]
    table = Table(title=f"Console cost, {large['systems']} systems against "
                  f"{base['systems']} ({summary['partitions_per_system']} partitions each, "
                  f"{summary['rounds']} rounds, {summary['host']['accel']}; ms)")
    table.add_column("measure")
    for column in (f"{base['systems']} median", "p95", f"{large['systems']} median",
                   "p95", "ratio", "p95", f"<={summary['target_ratio']:.0f}x"):
        table.add_column(column, justify="right")
    for name, label in MEASURES.items():
        if name not in summary["ratios"]:
            continue
        b, n, r = base["results"][name], large["results"][name], summary["ratios"][name]
        table.add_row(label, f"{b['median_ms']:.1f}", f"{b['p95_ms']:.1f}",
                      f"{n['median_ms']:.1f}", f"{n['p95_ms']:.1f}", f"{r['median']:.2f}",
                      f"{r['p95']:.2f}", "met" if summary["targets_met"][name] else "MISSED")
    Console(width=max(Console().width, 110)).print(table)
    for lab in (base, large):
        print(f"{lab['systems']} systems: up in {lab['lab_up_s']:.0f} s, idle "
              f"{sum(lab['idle_cores'].values()):.2f} cores ({lab['idle_cores']}), "
              f"{lab['resident_mib']} MiB resident, CPU ms per round "
              f"{ {k: round(v) for k, v in lab['cpu_ms_per_round'].items()} }, load "
              f"{lab['loadavg_before_rounds'][0]:.1f} -> {lab['loadavg_after_rounds'][0]:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=40,
                        help="systems of the large lab (2 to 40)")
    parser.add_argument("--partitions-per-system", type=int, default=4)
    parser.add_argument("--running-per-system", type=int, default=0,
                        help="partitions running on every system (p1 of sys1 always runs)")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--accel", default="auto", choices=["auto", "kvm", "tcg"])
    parser.add_argument("--no-browser", dest="browser", action="store_false",
                        help="do not measure the Servers page in chromium")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the console during as many rounds again, after the "
                             "measured ones")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not BASELINE_SYSTEMS <= args.systems <= 40:
        parser.error("--systems is 2 to 40 (the lab's maximum)")
    if args.partitions_per_system < 1 or \
            args.running_per_system > args.partitions_per_system:
        parser.error("--running-per-system is at most --partitions-per-system (>= 1)")
    return run_bench(PREFIX, lambda: bench(args), lambda summary: summary, show, args.out)


if __name__ == "__main__":
    sys.exit(main())
