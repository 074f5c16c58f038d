"""``openlpm demo``: a lab, a live migration with its progress, the proof, and clean-up.

The demo drives the site with the same HMC-compatible commands an administrator types,
shown as it runs them, and then proves from the partition's own console that it kept
running: one boot id throughout and a counter that never skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from openlpm.cli.hmc_client import HmcClient
from openlpm.errors import MigrationFailed
from openlpm.lab import site
from openlpm.model import ConsoleLine

PARTITION = "demo1"
PREFIX = "demo"
SOURCE, TARGET = "sys1", "sys2"


async def run_demo(fill_mb: int = 200, memory_mb: int = 512) -> None:
    out = Console(highlight=False)
    spec = site.LabSpec(prefix=PREFIX, hmc_port=site.free_port(), make_default=False,
                        partition_args=f"openlpm.fill_mb={fill_mb}")
    out.rule("[bold]openlpm demo: live partition mobility")
    try:
        state = await site.up(spec, say=lambda text: out.print(f"[dim]lab:[/] {text}"))
        await _migrate_and_prove(out, state, fill_mb, memory_mb)
    finally:
        out.rule("tearing the lab down")
        await site.down(PREFIX, say=lambda text: out.print(f"[dim]lab:[/] {text}"))


async def _migrate_and_prove(out: Console, state: site.LabState, fill_mb: int,
                             memory_mb: int) -> None:
    env = os.environ | {"OPENLPM_HMC": state.hmc_url}
    await _command(out, env, "mksyscfg", "-r", "lpar", "-m", SOURCE, "-i",
                   f"name={PARTITION},profile_name=default,min_mem=256,"
                   f"desired_mem={memory_mb},max_mem={memory_mb},min_procs=1,"
                   "desired_procs=1,max_procs=2")
    await _command(out, env, "chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on",
                   "-n", PARTITION, "-f", "default")
    async with HmcClient(state.hmc_url) as hmc:
        out.print(f"[dim]waiting for the workload to fill {fill_mb} MiB of memory and "
                  f"tick a few times...[/]")
        await _wait_for(hmc, SOURCE, lambda lines: sum(
            line.text.startswith("tick") for line in lines) >= 3 and any(
            line.text.startswith("openlpm filled") for line in lines))
        await _command(out, env, "lssyscfg", "-r", "lpar", "-m", SOURCE, "-F",
                       "name,lpar_id,state,curr_mem")
        await _command(out, env, "migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET,
                       "-p", PARTITION, "-v")
        await _command(out, env, "migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET,
                       "-p", PARTITION, "-v")
        await _command(out, env, "lssyscfg", "-r", "lpar", "-m", TARGET, "-F",
                       "name,lpar_id,state,curr_mem")
        await _command(out, env, "lssyscfg", "-r", "lpar", "-m", SOURCE, "-F",
                       "name,state")
        await _command(out, env, "lslparmigr", "-r", "lpar", "-m", TARGET, "-F",
                       "name,migration_state")
        before = len(await hmc.console(TARGET, PARTITION, 2000))
        await _wait_for(hmc, TARGET, lambda lines: len(lines) >= before + 3)
        await _prove(out, hmc)


async def _command(out: Console, env: dict[str, str], *argv: str) -> None:
    out.print(f"\n[bold cyan]$ {' '.join(_quoted(a) for a in argv)}[/]")
    binary = shutil.which(argv[0], path=str(Path(sys.executable).parent)) or argv[0]
    proc = await asyncio.create_subprocess_exec(binary, *argv[1:], env=env)
    if await proc.wait() != 0:
        raise MigrationFailed(f"The demo stopped: {argv[0]} exited {proc.returncode}.",
                              code="HSCLF320")


def _quoted(arg: str) -> str:
    return f'"{arg}"' if any(c in arg for c in " ,=") and not arg.startswith("-") else arg


async def _wait_for(hmc: HmcClient, system: str,
                    ready: Callable[[list[ConsoleLine]], bool], timeout: float = 180.0) -> None:
    """Poll the console: a guest's output raises no event the console could wait on."""
    async with asyncio.timeout(timeout):
        while not ready(await hmc.console(system, PARTITION, 2000)):
            await asyncio.sleep(0.5)


async def _prove(out: Console, hmc: HmcClient) -> None:
    lines = await hmc.console(TARGET, PARTITION, 2000)
    ticks = [line for line in lines if line.text.startswith("tick ")]
    record = (await hmc.migrations(TARGET))[0]
    switch = next(i for i, line in enumerate(ticks) if line.system == TARGET)
    table = Table(title="The partition's console around the switch-over")
    for column in ("received", "on", "console line"):
        table.add_column(column)
    for line in ticks[max(0, switch - 3):switch + 3]:
        table.add_row(f"{line.t - ticks[0].t:8.3f} s", line.system, line.text)
    out.print(table)
    verdict = _verdict(ticks, record.downtime_ms or 0)
    out.print(verdict, style="bold green" if verdict.startswith("PROOF") else "bold red")
    if not verdict.startswith("PROOF"):
        raise MigrationFailed(verdict, code="HSCLF321")


def _verdict(ticks: list[ConsoleLine], downtime_ms: int) -> str:
    boots = {line.text.split("boot=")[1] for line in ticks}
    counters = [int(line.text.split()[1]) for line in ticks]
    gaps = [b.t - a.t for a, b in zip(ticks, ticks[1:], strict=False)]
    continuous = counters == list(range(counters[0], counters[0] + len(counters)))
    if len(boots) != 1 or not continuous:
        return f"FAILED: boot ids {sorted(boots)}, counters continuous: {continuous}"
    return (f"PROOF: one boot id ({boots.pop()}) before and after the move; the counter went "
            f"{counters[0]}..{counters[-1]} without a gap; QEMU measured {downtime_ms} ms of "
            f"downtime; the longest silence on the console was {max(gaps):.2f} s against "
            f"a usual {statistics.median(gaps):.2f} s between ticks.")
