"""``openlpm demo``: a lab, a live migration with its progress, the proof, and clean-up.

The demo drives the site with the same HMC-compatible commands an administrator types,
shown as it runs them. Its partition boots on SAN through a virtual FC adapter, keeps an
fsync'd sequence on a second LUN and answers a TCP echo service on VLAN 10; a client
streams through that service during the move. Then it proves the partition kept running:
one boot id throughout and a counter that never skipped on its console, a gapless
sequence of good records on its disk, and a TCP connection that never broke.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from openlpm.clients.console import HmcClient
from openlpm.errors import MigrationFailed
from openlpm.lab import site
from openlpm.lab.sequence import Record, read_sequence
from openlpm.model import ConsoleLine

PARTITION = "demo1"
PREFIX = "demo"
SOURCE, TARGET = "sys1", "sys2"
WWPNS = ("c050760000000d01", "c050760000000d02")
ROOT_LUN, SEQUENCE_LUN = f"{PARTITION}root", f"{PARTITION}seq"
ADDRESS = "198.18.10.21"


async def run_demo(fill_mb: int = 200, memory_mb: int = 512) -> None:
    out = Console(highlight=False)
    spec = site.LabSpec(prefix=PREFIX, hmc_port=site.free_port(), make_default=False,
                        partition_args=f"openlpm.fill_mb={fill_mb}")
    out.rule("[bold]openlpm demo: live partition mobility")
    await in_lab(out, spec, lambda state: _migrate_and_prove(out, state, fill_mb, memory_mb))


async def in_lab(out: Console, spec: site.LabSpec,
                 show: Callable[[site.LabState], Awaitable[None]]) -> None:
    """Bring the demo's lab up, show what it is for, and take it down whatever happens."""
    try:
        state = await site.up(spec, say=lambda text: out.print(f"[dim]lab:[/] {text}"))
        await show(state)
    finally:
        out.rule("tearing the lab down")
        await site.down(spec.prefix, say=lambda text: out.print(f"[dim]lab:[/] {text}"))


async def _migrate_and_prove(out: Console, state: site.LabState, fill_mb: int,
                             memory_mb: int) -> None:
    env = os.environ | site.client_env(state)
    await command(out, env, "openlpm", "san", "mklun", "-l", ROOT_LUN, "--source",
                   str(site.IMAGE_DIR / "root.img"))
    await command(out, env, "openlpm", "san", "mklun", "-l", SEQUENCE_LUN, "--size-mb", "8")
    for lun in (ROOT_LUN, SEQUENCE_LUN):
        await command(out, env, "openlpm", "san", "map", "-l", lun, "--wwpn", WWPNS[0])
    await command(out, env, "mksyscfg", "-r", "lpar", "-m", SOURCE, "-i",
                   f"name={PARTITION},profile_name=default,min_mem=256,"
                   f"desired_mem={memory_mb},max_mem={memory_mb},min_procs=1,"
                   f"desired_procs=1,max_procs=2,virtual_eth_adapters=2/10,"
                   f"virtual_fc_adapters=4/{WWPNS[0]}/{WWPNS[1]},kernel_args=openlpm.root="
                   f"{ROOT_LUN} openlpm.seq={SEQUENCE_LUN} openlpm.ip={ADDRESS}/24")
    await command(out, env, "chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on",
                   "-n", PARTITION, "-f", "default")
    async with HmcClient(state.hmc_url, site.console_token(state),
                         site.console_trust(state)) as hmc:
        out.print(f"[dim]waiting for the partition to boot from LUN {ROOT_LUN}, fill "
                  f"{fill_mb} MiB of memory and tick a few times...[/]")
        await _wait_for(hmc, SOURCE, lambda lines: sum(
            line.text.startswith("tick") for line in lines) >= 3 and any(
            line.text.startswith("openlpm filled") for line in lines))
        await command(out, env, "lssyscfg", "-r", "lpar", "-m", SOURCE, "-F",
                       "name,lpar_id,state,curr_mem")
        await command(out, env, "lshwres", "-r", "virtualio", "--rsubtype", "fc", "-m",
                       SOURCE, "-F", "lpar_name,slot_num,wwpn_in_use,luns")
        await command(out, env, "migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET,
                       "-p", PARTITION, "-v")
        out.print(f"\n[dim]a client on VLAN 10 streams through TCP port 7 of {ADDRESS} "
                  f"while the partition moves[/]")
        client = await _start_client(state.prefix)
        await command(out, env, "migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET,
                       "-p", PARTITION, "-v")
        stream = await _stop_client(client)
        await command(out, env, "lssyscfg", "-r", "lpar", "-m", TARGET, "-F",
                       "name,lpar_id,state,curr_mem")
        await command(out, env, "lshwres", "-r", "virtualio", "--rsubtype", "fc", "-m",
                       TARGET, "-F", "lpar_name,slot_num,wwpn_in_use,luns")
        await command(out, env, "openlpm", "san", "lslun", "-F", "name,mappings")
        await command(out, env, "lssyscfg", "-r", "lpar", "-m", SOURCE, "-F",
                       "name,state")
        await command(out, env, "lslparmigr", "-r", "lpar", "-m", TARGET, "-F",
                       "name,migration_state")
        before = len(await hmc.console(TARGET, PARTITION, 2000))
        await _wait_for(hmc, TARGET, lambda lines: len(lines) >= before + 3)
        await _prove(out, hmc, state, stream)


async def _start_client(prefix: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", f"{prefix}-client", sys.executable, "-m",
        "openlpm.lab.echo_client", ADDRESS, stdout=asyncio.subprocess.PIPE)


async def _stop_client(client: asyncio.subprocess.Process) -> dict[str, Any]:
    client.terminate()
    out, _ = await client.communicate()
    return dict(json.loads(out))


async def command(out: Console, env: dict[str, str], *argv: str) -> None:
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


async def _prove(out: Console, hmc: HmcClient, state: site.LabState,
                 stream: dict[str, Any]) -> None:
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
    records = read_sequence(state.directory(state.prefix) / "san" / "luns" /
                            f"{SEQUENCE_LUN}.img")
    acked = max(int(line.text.split()[1]) for line in lines
                if line.text.startswith("seq ") and line.text.endswith("acked"))
    verdicts = [_verdict(ticks, record.downtime_ms or 0),
                _disk_verdict(records, acked), _network_verdict(stream)]
    for verdict in verdicts:
        out.print(verdict, style="bold green" if verdict.startswith("PROOF") else "bold red")
    failed = [v for v in verdicts if not v.startswith("PROOF")]
    if failed:
        raise MigrationFailed(" ".join(failed), code="HSCLF321")


def _disk_verdict(records: list[Record], acked: int) -> str:
    boots = {r.boot for r in records}
    if len(records) <= acked or len(boots) != 1:
        return (f"FAILED: the partition acknowledged record {acked}, and its LUN holds "
                f"{len(records)} good records from boots {sorted(boots)}.")
    return (f"PROOF: LUN {SEQUENCE_LUN} holds records 0..{len(records) - 1}, gapless, every "
            f"checksum good, one boot, {acked} the last the partition acknowledged.")


def _network_verdict(stream: dict[str, Any]) -> str:
    if stream["error"] or stream["echoed"] != stream["sent"]:
        return (f"FAILED: the client's TCP connection ended with {stream['error']}, "
                f"{stream['echoed']} of {stream['sent']} lines echoed.")
    return (f"PROOF: the client's TCP connection to {ADDRESS} stayed open; "
            f"{stream['sent']} lines went through it, the longest wait for an echo was "
            f"{stream['longest_pause_ms']:.0f} ms.")


def _verdict(ticks: list[ConsoleLine], downtime_ms: int) -> str:
    boots = {line.text.split("boot=")[1] for line in ticks}
    counters = [int(line.text.split()[1]) for line in ticks]
    gaps = [b.t - a.t for a, b in zip(ticks, ticks[1:], strict=False)]
    continuous = counters == list(range(counters[0], counters[0] + len(counters)))
    if len(boots) != 1 or not continuous:
        return f"FAILED: boot ids {sorted(boots)}, counters continuous: {continuous}"
    return (f"PROOF: one boot id ({boots.pop()}) before and after the move; the counter went "
            f"{counters[0]}..{counters[-1]} without a gap; the guest paused {downtime_ms} ms "
            f"(source STOP to target RESUME); the longest silence on the console was "
            f"{max(gaps):.2f} s against a usual {statistics.median(gaps):.2f} s between ticks.")
