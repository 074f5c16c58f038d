"""Acceptance of the foundation: a running partition moves between two managed systems."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Lab
from tests.integration.partition_checks import migrate_and_check

PROFILE = ("name={name},profile_name=default,min_mem=128,desired_mem=256,max_mem=512,"
           "min_procs=1,desired_procs=1,max_procs=2")


def create_and_activate(lab: Lab, system: str, name: str) -> None:
    lab.run("mksyscfg", "-r", "lpar", "-m", system, "-i", PROFILE.format(name=name))
    lab.run("chsysstate", "-r", "lpar", "-m", system, "-o", "on", "-n", name, "-f", "default")


def test_a_running_partition_moves_to_another_system_and_back_without_restarting(
        lab: Lab) -> None:
    create_and_activate(lab, "sys1", "web1")

    migrate_and_check(lab, "web1", "sys1", "sys2")
    assert lab.qemu_pids("sys1") == []
    migrate_and_check(lab, "web1", "sys2", "sys1")
    assert lab.qemu_pids("sys2") == []

    record = lab.api("/partitions/web1/migration")
    assert record["state"] == "Migration Complete"
    journal = lab.api(f"/migrations/{record['id']}/journal")
    assert [e["step"] for e in journal if e["phase"] == "done"] == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize(("options", "connections"), [
    ("streams=4", 5), ("compression=zstd", 2), ("streams=3,compression=zstd", 4)])
def test_a_running_partition_moves_through_several_streams_and_compressed(
        lab: Lab, options: str, connections: int) -> None:
    name = f"s{connections}{len(options)}"
    create_and_activate(lab, "sys1", name)
    boot = lab.wait_ticks("sys1", name, more_than=2)[-1][2]

    lab.run("migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p", name, "-i", options)

    record = lab.api(f"/partitions/{name}/migration")
    carried = [e["detail"] for e in lab.api(f"/migrations/{record['id']}/journal")
               if e["phase"] == "carried"]
    # QEMU's multifd: one main connection and one per stream.
    assert carried and carried[0].startswith(f"{connections} connection(s)"), carried
    ticks = lab.wait_ticks("sys2", name, more_than=4, received_on="sys2")
    lab.assert_kept_running("sys2", name, ticks, boot)
    lab.run("chsysstate", "-r", "lpar", "-m", "sys2", "-o", "shutdown", "--immed", "-n", name)
    lab.run("rmsyscfg", "-r", "lpar", "-m", "sys2", "-n", name)


def test_an_inactive_partition_moves_by_its_profile_and_activates_on_the_target(
        lab: Lab) -> None:
    create_and_activate(lab, "sys1", "db1")
    lab.wait_ticks("sys1", "db1", more_than=0)
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "shutdown", "--immed", "-n", "db1")

    lab.run("migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p", "db1")

    assert lab.values("lssyscfg", "-r", "lpar", "-m", "sys2", "-F", "name,state,curr_mem",
                      "--filter", "lpar_names=db1") == ["db1,Not Activated,0"]
    lab.assert_not_on("sys1", "db1")
    lab.run("chsysstate", "-r", "lpar", "-m", "sys2", "-o", "on", "-n", "db1")
    lab.wait_ticks("sys2", "db1", more_than=0, received_on="sys2")
    lab.run("chsysstate", "-r", "lpar", "-m", "sys2", "-o", "shutdown", "--immed", "-n", "db1")
    lab.run("rmsyscfg", "-r", "lpar", "-m", "sys2", "-n", "db1")


def site_view(lab: Lab) -> list[list[str]]:
    return [lab.values("lssyscfg", "-r", "lpar", "-m", system, "-F", "name,lpar_id,state")
            for system in ("sys1", "sys2")]


@pytest.mark.parametrize(("argv", "status", "code", "named"), [
    (("-m", "nosuch", "-t", "sys2", "-p", "web1"), 3, "HSCLF162", "nosuch"),
    (("-m", "sys1", "-t", "nosuch", "-p", "web1"), 3, "HSCLF162", "nosuch"),
    (("-m", "sys1", "-t", "sys2", "-p", "ghost"), 3, "HSCL8012", "ghost"),
    (("-m", "sys1", "-t", "sys1", "-p", "web1"), 2, "HSCLF182", "sys1"),
])
def test_a_migration_named_wrongly_is_refused_and_changes_nothing(
        lab: Lab, argv: tuple[str, ...], status: int, code: str, named: str) -> None:
    before = site_view(lab)
    for operation in ("v", "m"):
        result = lab.run("migrlpar", "-o", operation, *argv, check=False)
        assert result.returncode == status
        assert result.stderr.startswith(code) and named in result.stderr
    assert site_view(lab) == before


def test_a_target_without_enough_memory_is_refused_and_nothing_changes(lab: Lab) -> None:
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys2", "-i",
            "name=filler,min_mem=512,desired_mem=512,max_mem=512,min_procs=1,"
            "desired_procs=1,max_procs=1")
    lab.run("chsysstate", "-r", "lpar", "-m", "sys2", "-o", "on", "-n", "filler")
    free = dict(line.split(",") for line in lab.values(
        "lssyscfg", "-r", "sys", "-F", "name,curr_avail_sys_mem"))
    assert int(free["sys1"]) > int(free["sys2"])
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i",
            f"name=big,min_mem=128,desired_mem={free['sys1']},max_mem={free['sys1']},"
            f"min_procs=1,desired_procs=1,max_procs=1")
    lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n", "big")
    before = site_view(lab)

    result = lab.run("migrlpar", "-o", "m", "-m", "sys1", "-t", "sys2", "-p", "big",
                     check=False)

    assert result.returncode == 6
    assert "HSCLF189" in result.stderr
    assert f"sys2 has {free['sys2']} MB" in result.stderr and "big" in result.stderr
    assert site_view(lab) == before
    for system, name in (("sys1", "big"), ("sys2", "filler")):
        lab.run("chsysstate", "-r", "lpar", "-m", system, "-o", "shutdown", "--immed",
                "-n", name)
        lab.run("rmsyscfg", "-r", "lpar", "-m", system, "-n", name)
