"""Checks of a running partition that several acceptance tests make, whatever runs the
site (a lab, or the site of test_site.py): a move that keeps it running, the records it
acknowledged on its sequence LUN, a TCP client's echo on its VLAN."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from tests.integration.conftest import Lab

# Receive times are stamped by two agents on a loaded two-core host: with other labs'
# TCG guests beside it, the code before and after issue 17 alike saw a tick gap of
# downtime + tick + 0.6 s across the switch-over (0.5 s was allowed).
STAMP_JITTER_S = 1.0



def migrate_and_check(lab: Lab, name: str, source: str, target: str) -> None:
    before = lab.wait_ticks(source, name, more_than=2)
    boot_id = before[-1][2]

    validation = lab.run("migrlpar", "-o", "v", "-m", source, "-t", target, "-p", name)
    assert "Error" not in validation.stderr
    lab.run("migrlpar", "-o", "m", "-m", source, "-t", target, "-p", name)

    assert lab.values("lssyscfg", "-r", "lpar", "-m", target, "-F", "name,state",
                      "--filter", f"lpar_names={name}") == [f"{name},Running"]
    lab.assert_not_on(source, name)
    assert lab.qemu_pids(source, name) == []
    assert len(lab.qemu_pids(target, name)) == 1
    assert lab.values("lslparmigr", "-r", "lpar", "-m", target, "-F",
                      "name,migration_state", "--filter", f"lpar_names={name}") == \
        [f"{name},Not Migrating"]

    ticks = lab.wait_ticks(target, name, more_than=len(before) + 2)
    lab.assert_kept_running(target, name, ticks, boot_id)
    hosts = [where for _, _, _, where in ticks]
    runs = [h for i, h in enumerate(hosts) if i == 0 or hosts[i - 1] != h]
    assert runs[-2:] == [source, target], f"the console moved {runs}"

    record = lab.api(f"/partitions/{name}/migration")
    assert record["total_time_ms"] > 0 and record["downtime_ms"] is not None, \
        "QEMU's final figures were not recorded"
    downtime_s = record["downtime_ms"] / 1000
    gaps = [b[0] - a[0] for a, b in zip(ticks, ticks[1:], strict=False)]
    tick = statistics.median(gaps)
    assert max(gaps) <= downtime_s + tick + STAMP_JITTER_S, (
        f"the partition was silent {max(gaps):.2f} s; downtime was {downtime_s:.3f} s")



def acknowledged(lab: Lab, system: str, name: str) -> int:
    """The newest record the partition said is on its disk (``seq N acked``)."""
    out = lab.run("openlpm", "console", "-m", system, "-p", name, "--lines", "2000").stdout
    acked = [int(line.split()[1]) for line in out.splitlines()
             if line.startswith("seq ") and line.endswith("acked")]
    assert acked, f"{name} acknowledged no record"
    return acked[-1]


def wait_acknowledged(lab: Lab, system: str, name: str, beyond: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = lab.run("openlpm", "console", "-m", system, "-p", name, "--lines", "50").stdout
        if any(line.startswith("seq ") and line.endswith("acked")
               and int(line.split()[1]) > beyond for line in out.splitlines()):
            return acknowledged(lab, system, name)
        time.sleep(0.5)
    raise AssertionError(f"{name} on {system} acknowledged no record beyond {beyond}")



def in_client(lab: Lab, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", f"{lab.state.prefix}-client", *argv]


def echo_answers(lab: Lab, ip: str) -> bool:
    done = subprocess.run(in_client(lab, sys.executable, "-m", "openlpm.lab.echo_client", ip,
                                     "--seconds", "0.2"),
                          capture_output=True, text=True, timeout=60, check=False)
    return done.returncode == 0 and json.loads(done.stdout)["error"] is None


def wait_echo(lab: Lab, ip: str) -> None:
    deadline = time.monotonic() + 60
    while not echo_answers(lab, ip):
        assert time.monotonic() < deadline, f"nothing answers on {ip} port 7"
        time.sleep(1)
