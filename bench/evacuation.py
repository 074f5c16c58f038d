"""Evacuation benchmark: how long ``openlpm evacuate`` takes to empty a system, against
the physical limit of its link.

A lab of three systems; sys1 runs N partitions (512 MiB each, 200 MiB of random data
filled by the workload). In the same run the bench measures the lab link's throughput
out of sys1 (one TCP stream from sys1's namespace to sys2's, 1 GiB) and then evacuates
sys1 with ``openlpm evacuate`` (the partitions spread over sys2 and sys3, several at a
time within the concurrency limits). The physical limit is the bytes all migrations sent
divided by the link throughput; the ratio evacuation time / limit says how far from it
the evacuation is. It also reports the migrations' own mean stream rate, since under TCG
QEMU's copying, not the link, is the bottleneck.

Usage: python bench/evacuation.py [--partitions N] [--fill-mb M] [--out F]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import migration as m
from benchlab import BenchError, run_bench, say
from rich.console import Console
from rich.table import Table

from openlpm.agent.qemu import BootImage, QemuSettings
from openlpm.lab import site
from openlpm.lab.image import KERNEL_ARGS, PartitionImage

PREFIX = "benchev"
MEMORY_MB = 512
LINK_BYTES = 1 << 30
LINK_PORT = 5001
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "evacuation.json"

SERVER = """
import socket, sys
listener = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
conn, _ = listener.accept()
buf = bytearray(1 << 20)
while conn.recv_into(buf):
    pass
"""
CLIENT = """
import socket, sys, time
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
chunk = bytes(1 << 20)
began = time.monotonic()
for _ in range(int(sys.argv[3]) >> 20):
    sock.sendall(chunk)
sock.shutdown(socket.SHUT_WR)
sock.recv(1)
print(time.monotonic() - began)
"""


async def link_throughput() -> float:
    """Bytes per second one TCP stream carries from sys1 to sys2 over the lab link."""
    target = site.system_node(PREFIX, 2)
    server = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", target.namespace, sys.executable, "-c", SERVER,
        target.address, str(LINK_PORT), stdout=asyncio.subprocess.PIPE)
    try:
        assert server.stdout is not None
        await server.stdout.readline()
        client = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", site.system_node(PREFIX, 1).namespace, sys.executable,
            "-c", CLIENT, target.address, str(LINK_PORT), str(LINK_BYTES),
            stdout=asyncio.subprocess.PIPE)
        out, _ = await client.communicate()
        if client.returncode != 0:
            raise BenchError("the link throughput probe failed")
        return LINK_BYTES / float(out.decode().strip())
    finally:
        if server.returncode is None:
            server.kill()
        await server.wait()


async def measure(partitions: int, fill_mb: int) -> dict[str, Any]:
    started = time.monotonic()
    args = f"openlpm.fill_mb={fill_mb}"
    lab = await site.up(site.LabSpec(
        prefix=PREFIX, systems=3, cpus=8, memory_mb=4096, hmc_port=site.free_port(),
        make_default=False, partition_args=args), say=say)
    image = PartitionImage.locate(site.IMAGE_DIR)
    setup = m.Setup(lab=lab, memory_mb=MEMORY_MB, fill_mb=fill_mb, qemu=QemuSettings(
        binary=m.QEMU_BINARY, accel=lab.accel,
        boot=BootImage(image.kernel, image.initrd, f"{KERNEL_ARGS} {args}")))
    names = [f"ev{i}" for i in range(1, partitions + 1)]
    async with site.console_client(lab, timeout=30.0) as http:
        for name in names:
            await m.cli(setup, "mksyscfg", "-r", "lpar", "-m", "sys1", "-i",
                        setup.profile_attributes(name))
            await m.cli(setup, "chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on",
                        "-n", name)
        for name in names:
            await m.wait_console_api(http, "sys1", name, m.has_text(m.FILLED),
                                     f"'{m.FILLED}' on {name}")
        say(f"{partitions} partitions filled; measuring the link")
        link_bps = await link_throughput()
        say(f"link: {link_bps / 2**20:.0f} MiB/s; evacuating sys1")
        began = time.monotonic()
        report = await m.cli(setup, "openlpm", "evacuate", "-m", "sys1", "-F",
                             "name,target,result,time_s")
        evacuation_s = time.monotonic() - began
        records = [r for r in (await http.get("/migrations")).raise_for_status().json()
                   if r["partition"] in names]
    if len(records) != partitions or any(r["state"] != "Migration Complete"
                                         for r in records):
        raise BenchError(f"not every partition moved:\n{report}")
    sent = sum(r["bytes_transmitted"] for r in records)
    limit_s = sent / link_bps
    return {
        "bench": "evacuation", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": m.host_info(lab.accel), "partitions": partitions, "memory_mb": MEMORY_MB,
        "fill_mb": fill_mb, "link_mib_per_s": link_bps / 2**20,
        "mib_sent": sent / 2**20, "evacuation_s": evacuation_s, "limit_s": limit_s,
        "evacuation_vs_limit": evacuation_s / limit_s,
        "mean_stream_mib_per_s": statistics.mean(
            r["bytes_transmitted"] / 2**20 / (r["total_time_ms"] / 1000) for r in records),
        "placement": report.split(), "bench_s": time.monotonic() - started,
    }


def show(summary: dict[str, Any]) -> None:
    table = Table(title=f"Evacuating {summary['partitions']} partitions of "
                        f"{summary['memory_mb']} MiB ({summary['fill_mb']} MiB filled), "
                        f"{summary['host']['accel']}")
    for column in ("MiB sent", "link MiB/s", "limit s", "evacuation s", "vs limit",
                   "mean stream MiB/s"):
        table.add_column(column, justify="right")
    table.add_row(f"{summary['mib_sent']:.0f}", f"{summary['link_mib_per_s']:.0f}",
                  f"{summary['limit_s']:.2f}", f"{summary['evacuation_s']:.2f}",
                  f"{summary['evacuation_vs_limit']:.1f}x",
                  f"{summary['mean_stream_mib_per_s']:.0f}")
    Console(width=120).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--fill-mb", type=int, default=200)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    return run_bench(PREFIX, lambda: measure(args.partitions, args.fill_mb),
                     lambda summary: summary, show, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
