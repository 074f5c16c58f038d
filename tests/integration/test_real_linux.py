"""A real Linux installation moves: Debian 12, installed on its SAN LUN, started by
firmware, serving PostgreSQL to a client that never notices.

The partitions boot the image `openlpm image build --os debian12` makes, each from its
own copy on the SAN through a virtual FC adapter; what they run is Debian's own kernel,
initramfs and systemd. The guest is asked through its guest agent (qemu-guest-agent),
as an administrator would.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time

import pytest

from openlpm.clients.guest_agent import GuestAgent, GuestAgentAbsent
from openlpm.lab import site
from openlpm.lab.os_image import OsImage, build_os_image
from tests.integration.conftest import Lab

SYS1, SYS2 = "sys1", "sys2"
LAB_SPEC = {"memory_mb": 4096}
BOOT_TIMEOUT_S = 300.0
PROFILE = ("name={name},profile_name=default,min_mem=512,desired_mem=768,max_mem=1024,"
           "min_procs=1,desired_procs=1,max_procs=1,virtual_eth_adapters=2/10,"
           "virtual_fc_adapters=4/{wwpns[0]}/{wwpns[1]},boot_device_slot=4,"
           "kernel_args=openlpm.ip={address}/24{extra}")
# An EFI variable under a vendor GUID of the test's own (not the global one, which the
# kernel keeps for the variables the UEFI specification names), kept in the
# partition's NVRAM.
MARK = "OpenlpmMark-3b6e2f6c-1c8a-4e25-9d8b-6f0a1c2d3e4f"


@pytest.fixture(scope="module")
def debian12(lab: Lab) -> OsImage:
    return build_os_image("debian12")


def guest(lab: Lab, system: str, partition: str) -> GuestAgent:
    run_dir = site.LabState.directory(lab.state.prefix) / system / "run" / partition
    return GuestAgent(run_dir / "qga.sock", partition)


def in_guest(lab: Lab, system: str, partition: str, script: str) -> str:
    """Run a shell script in the partition through its guest agent; its output."""
    done = asyncio.run(guest(lab, system, partition).run("/bin/sh", "-c", script,
                                                         timeout=60))
    assert done.exit_code == 0, f"{script!r} in {partition}: {done.out}{done.err}"
    return done.out


def wait_booted(lab: Lab, system: str, partition: str) -> str:
    """Wait until systemd has started everything; the boot id."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            state = asyncio.run(guest(lab, system, partition).run(
                "/bin/systemctl", "is-system-running", "--wait", timeout=120))
        except (GuestAgentAbsent, TimeoutError):
            time.sleep(2)
            continue
        assert state.out.strip() == "running", f"{partition}: {state.out}" + in_guest(
            lab, system, partition, "systemctl --failed --no-legend")
        return in_guest(lab, system, partition, "cat /proc/sys/kernel/random/boot_id").strip()
    console = lab.run("openlpm", "console", "-m", system, "-p", partition, "--lines", "40")
    raise AssertionError(f"{partition} did not finish booting in {BOOT_TIMEOUT_S:.0f} s; "
                         f"its console:\n{console.stdout}")


def os_version(lab: Lab, system: str, partition: str) -> str:
    """lssyscfg's os_version, once the system's agent has asked the guest agent."""
    deadline = time.monotonic() + 30
    while True:
        version = lab.values("lssyscfg", "-r", "lpar", "-m", system, "--filter",
                             f"lpar_names={partition}", "-F", "os_version")[0]
        if version != "Unknown" or time.monotonic() > deadline:
            return version
        time.sleep(1)


def make_partition(lab: Lab, image: OsImage, name: str, wwpns: tuple[str, str], address: str,
                   extra: str = "") -> None:
    lab.run("openlpm", "san", "mklun", "-l", f"{name}root", "--source", image.disk.name)
    lab.run("openlpm", "san", "map", "-l", f"{name}root", "--wwpn", wwpns[0])
    lab.run("mksyscfg", "-r", "lpar", "-m", SYS1, "-i", PROFILE.format(
        name=name, wwpns=wwpns, address=address, extra=extra))
    lab.run("chsysstate", "-r", "lpar", "-m", SYS1, "-o", "on", "-n", name, "-f", "default")


def migrate(lab: Lab, source: str, target: str, partition: str) -> None:
    lab.run("migrlpar", "-o", "m", "-m", source, "-t", target, "-p", partition)


def pgbench(lab: Lab, image: OsImage, address: str, *args: str) -> subprocess.Popen[str]:
    password = image.db_password.read_text().strip()
    return subprocess.Popen(
        ["ip", "netns", "exec", f"{lab.state.prefix}-client", "env",
         f"PGPASSWORD={password}", "pgbench", "-h", address, "-U", "openlpm", *args,
         "openlpm"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_debian_partition_serving_postgresql_moves_there_and_back_unnoticed(
        lab: Lab, debian12: OsImage) -> None:
    wwpns = ("c050760000000e01", "c050760000000e02")
    address = "198.18.10.31"
    make_partition(lab, debian12, "db1", wwpns, address)
    boot = wait_booted(lab, SYS1, "db1")
    assert os_version(lab, SYS1, "db1").startswith("Linux/Debian 6.1")
    # Validation asks the guest's consent through its guest agent (its mobility hook).
    in_guest(lab, SYS1, "db1", "mkdir -p /run/openlpm && echo nightly batch until 06:00 "
                               "> /run/openlpm/veto")
    refused = lab.run("migrlpar", "-o", "v", "-m", SYS1, "-t", SYS2, "-p", "db1",
                      check=False)
    assert refused.returncode != 0 and "HSCLF417" in refused.stdout + refused.stderr
    assert "nightly batch until 06:00" in refused.stdout + refused.stderr
    in_guest(lab, SYS1, "db1", "rm /run/openlpm/veto")
    agreed = lab.run("migrlpar", "-o", "v", "-m", SYS1, "-t", SYS2, "-p", "db1")
    assert "HSCLA246" not in agreed.stdout + agreed.stderr
    init = pgbench(lab, debian12, address, "-i", "-s", "4")
    assert init.wait(timeout=300) == 0, init.communicate()[1]

    # Started before the moves and ending after them; every client connection is
    # opened once (no -C), so a broken one fails the run.
    bench = pgbench(lab, debian12, address, "-c", "4", "-j", "2", "-T", "90", "-P", "10")
    time.sleep(15)
    in_guest(lab, SYS1, "db1", "logger -t openlpm-test moves-start")
    started = time.monotonic()
    migrate(lab, SYS1, SYS2, "db1")
    assert in_guest(lab, SYS2, "db1", "cat /proc/sys/kernel/random/boot_id").strip() == boot
    migrate(lab, SYS2, SYS1, "db1")
    moved_in = time.monotonic() - started
    out, err = bench.communicate(timeout=400)

    assert moved_in < 90 - 15, f"the moves took {moved_in:.0f} s, longer than pgbench ran"
    assert bench.returncode == 0, f"pgbench failed:\n{out}\n{err}"
    assert re.search(r"number of failed transactions: 0 ", out), out
    assert "aborted" not in out + err and "lost" not in err, out + err
    assert in_guest(lab, SYS1, "db1", "cat /proc/sys/kernel/random/boot_id").strip() == boot
    assert in_guest(lab, SYS1, "db1", "systemctl is-system-running").strip() == "running"
    # What the guest logged from just before the first move on.
    journal = in_guest(lab, SYS1, "db1", "journalctl -b --no-pager -o cat").split(
        "moves-start", 1)[1]
    for trouble in ("I/O error", "blk_update_request", "Buffer I/O", "clocksource",
                    "jumped backwards", "soft lockup", "hung_task"):
        assert trouble not in journal, [line for line in journal.splitlines()
                                        if trouble in line]
    print(f"\npgbench across two moves ({moved_in:.0f} s):\n{out}")


def test_a_uefi_partition_keeps_its_variables_live_and_inactive(lab: Lab,
                                                                debian12: OsImage) -> None:
    wwpns = ("c050760000000e11", "c050760000000e12")
    make_partition(lab, debian12, "db2", wwpns, "198.18.10.32", extra=",firmware=uefi")
    first = wait_booted(lab, SYS1, "db2")
    assert in_guest(lab, SYS1, "db2", "test -d /sys/firmware/efi && echo uefi").strip() == \
        "uefi"
    # efivarfs takes a variable in one write: its attributes (NV, BS, RT), then its data.
    in_guest(lab, SYS1, "db2", f"printf '\\007\\000\\000\\000moved' > /tmp/mark && "
                               f"dd if=/tmp/mark of=/sys/firmware/efi/efivars/{MARK} bs=64")

    migrate(lab, SYS1, SYS2, "db2")
    # Shut down where the live move took it, moved back inactive, started again: the
    # variable reached sys2's copy of the NVRAM inside the memory stream, and came back
    # with the inactive move's step 1.
    lab.run("chsysstate", "-r", "lpar", "-m", SYS2, "-o", "shutdown", "--immed", "-n", "db2")
    migrate(lab, SYS2, SYS1, "db2")
    lab.run("chsysstate", "-r", "lpar", "-m", SYS1, "-o", "on", "-n", "db2", "-f", "default")
    second = wait_booted(lab, SYS1, "db2")
    assert second != first
    assert in_guest(lab, SYS1, "db2", f"cat /sys/firmware/efi/efivars/{MARK} | tail -c +5") == \
        "moved"
