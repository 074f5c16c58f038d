"""``openlpm demo --os debian12``: a real Linux installation moves while it serves.

A Debian 12 partition, installed on its SAN LUN and started by firmware, serves
PostgreSQL on VLAN 10; pgbench runs against it from the lab's client, started before the
move and ending after it. The proof is pgbench's own report (no failed transaction, no
lost connection), the guest's boot id before and after (asked through its guest agent)
and systemd saying the system runs on the target.
"""

from __future__ import annotations

import asyncio
import os
import re

from rich.console import Console

from openlpm.clients.guest_agent import GuestAgent, GuestAgentAbsent
from openlpm.errors import MigrationFailed
from openlpm.lab import site
from openlpm.lab.demo import command, in_lab
from openlpm.lab.os_image import OsImage, build_os_image

PARTITION = "db1"
PREFIX = "demo"
SOURCE, TARGET = "sys1", "sys2"
WWPNS = ("c050760000000d11", "c050760000000d12")
ROOT_LUN = f"{PARTITION}root"
ADDRESS = "198.18.10.31"
BOOT_TIMEOUT_S = 300.0
BENCH_S = 90


async def run_linux_demo(os_name: str, memory_mb: int) -> None:
    out = Console(highlight=False)
    out.rule(f"[bold]openlpm demo: live partition mobility of a {os_name} installation")
    out.print("[dim]building (or finding) the guest image...[/]")
    image = await asyncio.to_thread(build_os_image, os_name)
    spec = site.LabSpec(prefix=PREFIX, hmc_port=site.free_port(), make_default=False,
                        memory_mb=max(4096, memory_mb * 2))
    await in_lab(out, spec, lambda state: _move_and_prove(out, state, image, memory_mb))


async def _move_and_prove(out: Console, state: site.LabState, image: OsImage,
                          memory_mb: int) -> None:
    env = os.environ | site.client_env(state)
    await command(out, env, "openlpm", "san", "mklun", "-l", ROOT_LUN, "--source",
                  image.disk.name)
    await command(out, env, "openlpm", "san", "map", "-l", ROOT_LUN, "--wwpn", WWPNS[0])
    await command(out, env, "mksyscfg", "-r", "lpar", "-m", SOURCE, "-i",
                  f"name={PARTITION},profile_name=default,min_mem=512,"
                  f"desired_mem={memory_mb},max_mem={memory_mb},min_procs=1,"
                  f"desired_procs=1,max_procs=2,virtual_eth_adapters=2/10,"
                  f"virtual_fc_adapters=4/{WWPNS[0]}/{WWPNS[1]},boot_device_slot=4,"
                  f"kernel_args=openlpm.ip={ADDRESS}/24")
    await command(out, env, "chsysstate", "-r", "lpar", "-m", SOURCE, "-o", "on",
                  "-n", PARTITION, "-f", "default")
    out.print(f"[dim]Debian boots by SeaBIOS and GRUB from LUN {ROOT_LUN}; waiting for "
              f"systemd to finish (a minute or two under TCG)...[/]")
    source = _guest(state, SOURCE)
    before = await _booted(source)
    await command(out, env, "lssyscfg", "-r", "lpar", "-m", SOURCE, "-F",
                  "name,state,os_version")
    await command(out, env, "migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET,
                  "-p", PARTITION)
    password = image.db_password.read_text().strip()
    await _pgbench(state, password, "-i", "-s", "4")
    out.print(f"\n[dim]pgbench: 4 clients for {BENCH_S} s against {ADDRESS}, while the "
              f"partition moves[/]")
    bench = await _start_pgbench(state, password, "-c", "4", "-j", "2", "-T", str(BENCH_S),
                                 "-P", "10")
    await asyncio.sleep(15)
    await command(out, env, "migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET,
                  "-p", PARTITION, "-v")
    report, _ = await bench.communicate()
    text = report.decode(errors="replace")
    out.print(text)
    target = _guest(state, TARGET)
    after = (await target.run("/bin/cat", "/proc/sys/kernel/random/boot_id")).out.strip()
    running = (await target.run("/bin/systemctl", "is-system-running")).out.strip()
    await command(out, env, "lssyscfg", "-r", "lpar", "-m", TARGET, "-F",
                  "name,state,os_version")
    _prove(out, bench.returncode, text, before, after, running)


def _guest(state: site.LabState, system: str) -> GuestAgent:
    run_dir = site.LabState.directory(state.prefix) / system / "run" / PARTITION
    return GuestAgent(run_dir / "qga.sock", PARTITION)


async def _booted(agent: GuestAgent) -> str:
    """Wait for systemd to finish starting the guest; its boot id."""
    async with asyncio.timeout(BOOT_TIMEOUT_S):
        while True:
            try:
                await agent.run("/bin/systemctl", "is-system-running", "--wait",
                                timeout=BOOT_TIMEOUT_S)
                break
            except GuestAgentAbsent:
                await asyncio.sleep(2)
    return (await agent.run("/bin/cat", "/proc/sys/kernel/random/boot_id")).out.strip()


async def _start_pgbench(state: site.LabState, password: str,
                         *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", f"{state.prefix}-client", "env", f"PGPASSWORD={password}",
        "pgbench", "-h", ADDRESS, "-U", "openlpm", *args, "openlpm",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


async def _pgbench(state: site.LabState, password: str, *args: str) -> None:
    proc = await _start_pgbench(state, password, *args, "-q")
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise MigrationFailed(f"The demo stopped: pgbench {' '.join(args)} failed: "
                              f"{out.decode(errors='replace')[-400:]}", code="HSCLF320")


def _prove(out: Console, code: int | None, report: str, before: str, after: str,
           running: str) -> None:
    failed = re.search(r"number of failed transactions: (\d+)", report)
    verdicts = [
        f"PROOF: pgbench ran through the move: {failed.group(1)} failed transactions, no "
        f"connection lost." if code == 0 and failed and failed.group(1) == "0" else
        f"FAILED: pgbench exited {code}; see its report above.",
        f"PROOF: one boot ({before}) before and after the move." if before == after else
        f"FAILED: boot id {before} before, {after} after.",
        f"PROOF: systemd on {TARGET} says '{running}'." if running == "running" else
        f"FAILED: systemd on {TARGET} says '{running}'.",
    ]
    for verdict in verdicts:
        out.print(verdict, style="bold green" if verdict.startswith("PROOF") else "bold red")
    if any(not v.startswith("PROOF") for v in verdicts):
        raise MigrationFailed(" ".join(v for v in verdicts if not v.startswith("PROOF")),
                              code="HSCLF321")
