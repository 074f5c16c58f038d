"""An agent without a kernel (a site whose partitions boot their own disks by firmware):
a partition that would boot the system's kernel is refused before QEMU runs, one
booting by firmware starts as before."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from openlpm.agent.qemu import BootImage, QemuPartition, QemuSettings
from openlpm.agent.serve import boot_image
from openlpm.errors import RequestInvalid, WrongState
from openlpm.model import PartitionProfile

SIZES = dict(min_mem=256, desired_mem=256, max_mem=256, min_procs=1, desired_procs=1,
             max_procs=1)
FC = {"slot": 4, "wwpns": ("c0507600000000a0", "c0507600000000a1")}


def kernelless(tmp_path: Path) -> QemuPartition:
    # A binary that cannot run: reaching it would be a HypervisorError, not the refusal.
    return QemuPartition("web1", tmp_path / "run" / "web1",
                         QemuSettings(str(tmp_path / "no-qemu"), "tcg", None))


async def test_a_partition_booting_the_systems_kernel_is_refused_before_qemu_starts(
        tmp_path: Path) -> None:
    qemu = kernelless(tmp_path)
    with pytest.raises(WrongState) as refused:
        await qemu.start(PartitionProfile(name="web1", **SIZES))
    assert refused.value.code == "HSCLF706"
    assert "web1" in refused.value.message and "boot_device_slot" in refused.value.message
    assert not qemu.run_dir.exists()


def test_a_partition_booting_by_firmware_needs_no_kernel(tmp_path: Path) -> None:
    profile = PartitionProfile(name="web1", virtual_fc_adapters=[FC], boot_device_slot=4,
                               **SIZES)
    command = kernelless(tmp_path).command(profile, incoming=False)
    assert "-kernel" not in command


def agent_options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="sys1")
    parser.add_argument("--kernel", type=Path)
    parser.add_argument("--initrd", type=Path)
    parser.add_argument("--kernel-args", default="")
    return parser.parse_args(list(argv))


def test_an_agent_given_no_kernel_has_none() -> None:
    assert boot_image(agent_options()) is None


def test_an_agent_given_kernel_and_initrd_boots_them_with_its_args() -> None:
    assert boot_image(agent_options("--kernel", "/k", "--initrd", "/i",
                                    "--kernel-args", "console=ttyS0")) == BootImage(
        Path("/k"), Path("/i"), "console=ttyS0")


@pytest.mark.parametrize("argv", [("--kernel", "/k"), ("--initrd", "/i")])
def test_a_kernel_without_its_initrd_or_the_other_way_is_refused(
        argv: tuple[str, ...]) -> None:
    with pytest.raises(RequestInvalid) as refused:
        boot_image(agent_options(*argv))
    assert refused.value.code == "HSCLF707"
    assert "sys1" in refused.value.message
