"""Managed systems added and removed the HMC's way, against a real lab: ``rmsysconn``
forgets a system while its partition keeps running, ``mksysconn --ip`` brings it back
under the name its agent gives (no code: this console enrolled it), the partition is
seen again, from the same boot."""

from __future__ import annotations

from tests.integration.conftest import Lab

SYS2 = "198.18.0.12"
PROFILE = ("name=kept1,profile_name=default,min_mem=128,desired_mem=256,max_mem=256,"
           "min_procs=1,desired_procs=1,max_procs=1")


def connections(lab: Lab) -> list[str]:
    return lab.values("lssysconn", "-r", "all", "-F", "resource_type,name,ipaddr,state")


def test_a_system_removed_and_added_again_by_its_address_keeps_its_partition(
        lab: Lab) -> None:
    lab.run("mksyscfg", "-r", "lpar", "-m", "sys2", "-i", PROFILE)
    lab.run("chsysstate", "-r", "lpar", "-m", "sys2", "-o", "on", "-n", "kept1")
    boot = lab.wait_ticks("sys2", "kept1", more_than=1, timeout=240)[-1][2]
    assert f"sys,sys2,{SYS2},Connected" in connections(lab)

    lab.run("rmsysconn", "-o", "remove", "--ip", SYS2)
    assert not any(",sys2," in line for line in connections(lab))
    assert lab.values("lssyscfg", "-r", "sys", "-F", "name") == ["sys1"]

    lab.run("mksysconn", "--ip", SYS2)
    assert f"sys,sys2,{SYS2},Connected" in connections(lab)
    version = lab.run("openlpm", "--version").stdout.split()[-1]
    assert f"sys2,Operating,{version}" in lab.values(
        "lssyscfg", "-r", "sys", "-F", "name,state,agent_version")
    assert lab.values("lssyscfg", "-r", "lpar", "-m", "sys2", "-F", "name,state") == \
        ["kept1,Running"]
    ticks = lab.wait_ticks("sys2", "kept1", more_than=len(lab.ticks("sys2", "kept1")))
    assert {b for _, _, b, _ in ticks} == {boot}


def test_a_system_already_managed_is_not_added_twice(lab: Lab) -> None:
    again = lab.run("mksysconn", "--ip", "198.18.0.11", check=False)
    assert (again.returncode, again.stderr.split()[0]) == (4, "HSCLF161"), again.stderr


def test_rmsysconn_of_an_address_with_no_connection_says_so(lab: Lab) -> None:
    result = lab.run("rmsysconn", "-o", "remove", "--ip", "198.18.0.99", check=False)
    assert (result.returncode, result.stderr.split()[0]) == (3, "HSCLF555"), result.stderr


def test_an_address_that_is_not_one_is_refused_before_anything_is_asked(lab: Lab) -> None:
    result = lab.run("mksysconn", "--ip", "198.18.0.12/x@evil#", check=False)
    assert (result.returncode, result.stderr.split()[0]) == (2, "HSCLF001"), result.stderr
    assert lab.values("lssyscfg", "-r", "sys", "-F", "name") == ["sys1", "sys2"]
