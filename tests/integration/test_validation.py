"""Validation against real bad situations: each built for real in a lab, all reported at once.

The lab carries the names of a real site (systems wilma and visa, movers wilmav2 and
visav2, console destiny4) so that a real-world HMC command line runs as written.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from openlpm.hmc.mobility.checks import CHECKS
from tests.integration.conftest import Lab

# The faulty partition's disk and share are made under the temporary directory, which
# its agents allow (tmp_path_factory's files lie there).
LAB_SPEC = {"names": ("wilma", "visa"), "mover_suffix": "v2", "hmc_name": "destiny4",
            "allow_dirs": (tempfile.gettempdir(),)}
SOURCE, TARGET = "wilma", "visa"
TARGET_ADDRESS = "198.18.0.12"
PROFILE = ("name={name},profile_name=default,min_mem=128,desired_mem={mem},max_mem=2048,"
           "min_procs=1,desired_procs=1,max_procs=2")
# The target keeps 2048 - 1664 = 384 MB free: room for a 256 MB partition, not for 512.
HOG_MB, FAULTY_MB, GOOD_MB = 1664, 512, 256
REAL_WORLD = ["migrlpar", "-o", "m", "-m", "wilma", "-t", "visa", "-p", "upt07",
              "--redundantpgvios", "0", "-n", "upt07_noams_npiv", "-u", "hscroot",
              "--vlanbridge", "2", "--mpio", "2", "-w", "60", "-d", "5", "-v", "-i",
              "source_msp_name=wilmav2,dest_msp_name=visav2", "--ip", "destiny4"]


def create(lab: Lab, system: str, name: str, mem: int, extra: str = "",
           activate: bool = True) -> None:
    lab.run("mksyscfg", "-r", "lpar", "-m", system, "-i",
            PROFILE.format(name=name, mem=mem) + extra)
    if activate:
        lab.run("chsysstate", "-r", "lpar", "-m", system, "-o", "on", "-n", name)


def snapshot(lab: Lab) -> dict[str, Any]:
    """What validation must never change: both systems' partitions and QEMU processes."""
    return {system: (lab.values("lssyscfg", "-r", "lpar", "-m", system, "-F",
                                "name,state,lpar_id,curr_profile,migration_state"),
                     sorted(lab.qemu_pids(system)))
            for system in (SOURCE, TARGET)}


def validate(lab: Lab, name: str) -> dict[str, Any]:
    report: dict[str, Any] = lab.post("/validations", {"source": SOURCE, "target": TARGET,
                                                       "partition": name})
    return report


def codes(report: dict[str, Any]) -> set[str]:
    return {f["code"] for f in report["findings"]}


def model_target_lacks(lab: Lab) -> str:
    """A CPU model the target's QEMU knows but cannot fully provide here."""
    lacking = [m["name"] for m in lab.api(f"/systems/{TARGET}/cpu-models")
               if m["unavailable_features"] and m["name"] not in ("host", "max")]
    if not lacking:
        pytest.skip("the target's QEMU offers every CPU model in full")
    return "Haswell" if "Haswell" in lacking else lacking[0]


@pytest.fixture(scope="module")
def site(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A hog holding the target's memory, a faulty partition and a good one, all running."""
    files = tmp_path_factory.mktemp("host-local")
    disk, share = files / "faulty.img", files / "share"
    disk.write_bytes(b"\0" * 1024 * 1024)
    share.mkdir()
    model = model_target_lacks(lab)
    create(lab, TARGET, "hog", HOG_MB)
    create(lab, SOURCE, "faulty", FAULTY_MB,
           f",lpar_proc_compat_mode={model},kernel_args=openlpm.veto=backup_running,"
           f"disks={disk},networks=user,shares={share}")
    lab.run("chsyscfg", "-r", "lpar", "-m", SOURCE, "-p", "faulty", "-i",
            "migration_disabled=1")
    create(lab, SOURCE, "upt07", GOOD_MB)
    lab.wait_ticks(SOURCE, "faulty", more_than=1)
    lab.wait_ticks(SOURCE, "upt07", more_than=1)
    yield {"model": model, "disk": str(disk), "share": str(share)}


@pytest.fixture(scope="module")
def faulty_report(lab: Lab, site: dict[str, Any]) -> dict[str, Any]:
    return validate(lab, "faulty")


@pytest.mark.parametrize(("code", "severity", "obj", "says"), [
    ("HSCLF412", "error", "faulty", "migration_disabled=1"),
    ("HSCLF413", "error", "faulty", "{disk}"),
    ("HSCLF414", "error", "faulty", "user-mode network"),
    ("HSCLF415", "error", "faulty", "{share}"),
    ("HSCLF417", "error", "faulty", "backup_running"),
    ("HSCLF411", "error", "faulty", "{model}"),
    ("HSCLF189", "error", TARGET, f"needs {FAULTY_MB} MB"),
])
def test_each_fault_built_for_real_is_found_with_its_code_and_object(
        faulty_report: dict[str, Any], site: dict[str, Any], code: str, severity: str,
        obj: str, says: str) -> None:
    found = [f for f in faulty_report["findings"] if f["code"] == code]
    assert len(found) == 1, faulty_report["findings"]
    assert (found[0]["severity"], found[0]["object"]) == (severity, obj)
    assert says.format(**site) in found[0]["message"]
    assert found[0]["remedy"], "every finding says what to do"


def test_every_fault_is_reported_in_one_run_and_nothing_changes(lab: Lab,
                                                                site: dict[str, Any]) -> None:
    before = snapshot(lab)
    result = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "faulty",
                     check=False)
    assert result.returncode == 6
    printed = {line.split()[0] for line in result.stderr.splitlines()
               if line.startswith("HSCL")}
    assert {"HSCLF411", "HSCLF412", "HSCLF413", "HSCLF414", "HSCLF415", "HSCLF417",
            "HSCLF189"} <= printed
    assert snapshot(lab) == before


def test_migrate_validates_first_and_refuses_changing_nothing(lab: Lab,
                                                              site: dict[str, Any]) -> None:
    before = snapshot(lab)
    result = lab.run("migrlpar", "-o", "m", "-m", SOURCE, "-t", TARGET, "-p", "faulty",
                     check=False)
    assert result.returncode == 6 and "nothing was changed" in result.stderr
    assert snapshot(lab) == before


def test_migration_disabled_is_visible_and_can_be_cleared(lab: Lab,
                                                          site: dict[str, Any]) -> None:
    listing = ["lssyscfg", "-r", "lpar", "-m", SOURCE, "-F", "migration_disabled",
               "--filter", "lpar_names=faulty"]
    assert lab.values(*listing) == ["1"]
    lab.run("chsyscfg", "-r", "lpar", "-m", SOURCE, "-p", "faulty", "-i",
            "migration_disabled=0")
    try:
        assert lab.values(*listing) == ["0"]
        assert "HSCLF412" not in codes(validate(lab, "faulty"))
    finally:
        lab.run("chsyscfg", "-r", "lpar", "-m", SOURCE, "-p", "faulty", "-i",
                "migration_disabled=1")


def test_a_healthy_partition_passes_and_its_guest_answers(lab: Lab,
                                                          site: dict[str, Any]) -> None:
    report = validate(lab, "upt07")
    assert report["kind"] == "active"
    assert [f for f in report["findings"] if f["severity"] == "error"] == []
    assert "HSCLA246" not in codes(report), "the guest's mobility hook did not answer"


def test_detail_level_5_lists_every_check_and_the_time(lab: Lab, site: dict[str, Any]) -> None:
    result = lab.run("migrlpar", "-o", "v", "-m", SOURCE, "-t", TARGET, "-p", "upt07",
                     "-d", "5")
    lines = result.stdout.splitlines()
    assert len([line for line in lines if line.startswith("  check ")]) == len(CHECKS)
    assert any(line.startswith("Validation took") for line in lines)
    assert any("passed (active migration)" in line for line in lines)


def test_a_target_in_maintenance_takes_no_migration(lab: Lab, site: dict[str, Any]) -> None:
    lab.run("openlpm", "maintenance", "-m", TARGET)
    try:
        assert "HSCLF402" in codes(validate(lab, "upt07"))
    finally:
        lab.run("openlpm", "maintenance", "-m", TARGET, "--off")
    assert "HSCLF402" not in codes(validate(lab, "upt07"))


def test_movers_that_cannot_reach_each_other_are_found_by_a_probe(
        lab: Lab, site: dict[str, Any]) -> None:
    route = ["ip", "-n", f"{lab.state.prefix}-{SOURCE}", "route"]
    subprocess.run([*route, "add", "prohibit", f"{TARGET_ADDRESS}/32"], check=True)
    try:
        found = [f for f in validate(lab, "upt07")["findings"] if f["code"] == "HSCLF408"]
        pairs = lab.values("lslparmigr", "-r", "msp", "-m", SOURCE, "-t", TARGET, "-F",
                           "source_msp_name,dest_msp_name,usable")
    finally:
        subprocess.run([*route, "del", "prohibit", f"{TARGET_ADDRESS}/32"], check=True)
    assert len(found) == 1 and found[0]["object"] == "wilmav2"
    assert f"{TARGET_ADDRESS}:" in found[0]["message"]
    assert pairs == ["wilmav2,visav2,0"]
    assert lab.values("lslparmigr", "-r", "msp", "-m", SOURCE, "-t", TARGET, "-F",
                      "usable") == ["1"]


def test_virtualio_names_the_devices_that_cannot_be_mapped(lab: Lab,
                                                           site: dict[str, Any]) -> None:
    [line] = lab.values("lslparmigr", "-r", "virtualio", "-m", SOURCE, "-t", TARGET,
                        "--filter", "lpar_names=faulty", "-F", "unmappable_devices")
    assert site["disk"] in line and site["share"] in line and "user-mode network" in line


def test_a_misspelt_attribute_is_named_with_its_closest_valid_one(
        lab: Lab, site: dict[str, Any]) -> None:
    before = snapshot(lab)
    misspelt = [arg.replace("source_msp_name", "source_msp+name") for arg in REAL_WORLD]
    result = lab.run(*misspelt, check=False)
    assert result.returncode == 2
    assert "source_msp+name (did you mean source_msp_name?)" in result.stderr
    assert snapshot(lab) == before


def test_a_real_world_hmc_command_line_migrates_as_written(lab: Lab,
                                                           site: dict[str, Any]) -> None:
    boot = lab.ticks(SOURCE, "upt07")[-1][2]
    result = lab.run(*REAL_WORLD)
    assert "step 7 done" in result.stdout
    assert lab.values("lssyscfg", "-r", "lpar", "-m", TARGET, "-F", "name,state,curr_profile",
                      "--filter", "lpar_names=upt07") == ["upt07,Running,upt07_noams_npiv"]
    lab.assert_one_boot(TARGET, "upt07",
                        lab.wait_ticks(TARGET, "upt07", more_than=2, received_on=TARGET), boot)

