"""A partition that boots its own operating system: firmware instead of the system's
kernel, its boot LUN first, its UEFI variables its own."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from openlpm.agent.partitions import Capacity, PartitionManager
from openlpm.agent.qemu import BootImage, QemuPartition, QemuSettings, UefiFirmware
from openlpm.agent.storage import SanDisk, qemu_arguments
from openlpm.errors import HypervisorError, RequestInvalid
from openlpm.model import Lun, PartitionProfile

SIZES = dict(min_mem=512, desired_mem=512, max_mem=512, min_procs=1, desired_procs=1,
             max_procs=1)
FC = {"slot": 4, "wwpns": ("c0507600000000a0", "c0507600000000a1")}


def qemu_in(tmp_path: Path) -> QemuPartition:
    vars_template = tmp_path / "OVMF_VARS.fd"
    vars_template.write_bytes(b"\x01" * 4096)
    settings = QemuSettings("qemu-system-x86_64", "tcg",
                            BootImage(Path("/k"), Path("/i"), "console=ttyS0"),
                            UefiFirmware(code=Path("/ovmf/CODE.fd"),
                                         vars_template=vars_template))
    return QemuPartition("db1", tmp_path / "run" / "db1", settings)


def test_a_partition_without_a_boot_device_boots_the_systems_kernel(tmp_path: Path) -> None:
    profile = PartitionProfile(name="db1", kernel_args="openlpm.ip=198.18.10.5/24", **SIZES)

    args = qemu_in(tmp_path).boot_arguments(profile)

    assert args == ["-kernel", "/k", "-initrd", "/i",
                    "-append", "console=ttyS0 openlpm.ip=198.18.10.5/24"]


def test_a_partition_with_a_boot_device_starts_by_firmware_and_gets_its_args_by_fw_cfg(
        tmp_path: Path) -> None:
    profile = PartitionProfile(name="db1", virtual_fc_adapters=[FC], boot_device_slot=4,
                               kernel_args="openlpm.ip=198.18.10.5/24 x=a,b", **SIZES)

    command = qemu_in(tmp_path).command(profile, incoming=False)

    assert "-kernel" not in command and "-append" not in command
    assert "name=opt/org.openlpm/args,string=openlpm.ip=198.18.10.5/24 x=a,,b" in command
    assert not any("pflash" in arg for arg in command)


def test_uefi_adds_ovmf_and_the_partitions_own_variables(tmp_path: Path) -> None:
    qemu = qemu_in(tmp_path)
    profile = PartitionProfile(name="db1", virtual_fc_adapters=[FC], boot_device_slot=4,
                               firmware="uefi", **SIZES)

    qemu.ensure_nvram()
    command = qemu.command(profile, incoming=False)

    assert "if=pflash,format=raw,unit=0,readonly=on,file=/ovmf/CODE.fd" in command
    assert f"if=pflash,format=raw,unit=1,file={qemu.nvram}" in command
    assert qemu.nvram.read_bytes() == b"\x01" * 4096
    assert stat.S_IMODE(qemu.nvram.stat().st_mode) == 0o600


def test_variables_already_written_are_never_replaced_by_the_template(tmp_path: Path) -> None:
    qemu = qemu_in(tmp_path)
    qemu.ensure_nvram()
    qemu.nvram.write_bytes(b"\x02" * 4096)

    qemu.ensure_nvram()

    assert qemu.nvram.read_bytes() == b"\x02" * 4096


def test_uefi_without_ovmf_installed_names_the_package(tmp_path: Path) -> None:
    qemu = qemu_in(tmp_path)
    (tmp_path / "OVMF_VARS.fd").unlink()

    with pytest.raises(HypervisorError, match="apt-get install ovmf"):
        qemu.ensure_nvram()


def test_the_boot_lun_is_the_only_one_the_firmware_tries() -> None:
    disks = [SanDisk(Lun(name=name, size_mb=1, host="198.18.0.3", port=port), "w",
                     Path("/c")) for name, port in (("data", 10810), ("root", 10811))]

    args = qemu_arguments(disks, boot=["root"])

    devices = [a for a in args if a.startswith("virtio-blk-pci")]
    assert devices[0].endswith("serial=data")
    assert devices[1].endswith("serial=root,bootindex=1")


@pytest.mark.parametrize("fields, complaint", [
    ({"boot_device_slot": 5, "virtual_fc_adapters": [FC]}, "not the slot"),
    ({"firmware": "uefi"}, "give boot_device_slot"),
    ({"firmware": "openfirmware", "boot_device_slot": 4, "virtual_fc_adapters": [FC]},
     "firmware"),
])
def test_a_boot_device_must_be_one_of_the_partitions_adapters(
        fields: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        PartitionProfile(name="db1", **fields, **SIZES)


def uefi_manager(tmp_path: Path) -> PartitionManager:
    return PartitionManager("sys2", tmp_path / "sys2", Capacity(2, 2048),
                            qemu_in(tmp_path).settings)


UEFI_PROFILE = PartitionProfile(name="db1", virtual_fc_adapters=[FC], boot_device_slot=4,
                                firmware="uefi", **SIZES)


async def test_an_inactive_move_brings_the_partitions_uefi_variables(tmp_path: Path) -> None:
    target = uefi_manager(tmp_path)

    await target.create(UEFI_PROFILE, "m1", running=False, nvram=b"\x07" * 4096)

    assert target.nvram("db1") == b"\x07" * 4096
    nvram = target.run_root / "db1" / "nvram.fd"
    assert stat.S_IMODE(nvram.stat().st_mode) == 0o600


@pytest.mark.parametrize("profile, size", [(UEFI_PROFILE, 100), (PartitionProfile(
    name="db1", virtual_fc_adapters=[FC], boot_device_slot=4, **SIZES), 4096)])
async def test_variables_that_do_not_fit_are_refused_and_nothing_is_kept(
        tmp_path: Path, profile: PartitionProfile, size: int) -> None:
    target = uefi_manager(tmp_path)

    with pytest.raises(RequestInvalid) as refused:
        await target.create(profile, "m1", running=False, nvram=b"\x07" * size)

    assert refused.value.code == "HSCLF134"
    assert target.partitions() == []
