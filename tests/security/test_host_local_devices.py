"""A console user tries to hand a partition its host, for real.

An operator asks for a partition whose disk is the host's /etc/shadow, whose share is
the host's /, or whose io_slot hides a QEMU option; the super administrator asks for
the same disk, on agents that allow no directory (the lab starts them without
--allow-dir); and a profile an older agent stored with the host's root as a share is
activated. Each is refused with its code, audited, and no partition or QEMU is made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openlpm.agent.profiles import ProfileRecord
from openlpm.lab import site
from openlpm.model import PartitionProfile
from tests.integration.conftest import Lab

PROFILE = ("name={name},min_mem=128,desired_mem=128,max_mem=128,min_procs=1,"
           "desired_procs=1,max_procs=1,")
OPERATOR = "hostop"


@pytest.fixture(scope="module")
def operator(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of an operator who ran 'openlpm login' with their credentials."""
    env = {"OPENLPM_CREDENTIALS": str(tmp_path_factory.mktemp("op") / "credentials.json")}
    password = f"{OPERATOR}-password"
    lab.run("mkhmcusr", "-u", OPERATOR, "-a", "hmcoperator", stdin=f"{password}\n")
    lab.run("openlpm", "login", "-u", OPERATOR, stdin=f"{password}\n", env=env)
    return env


@pytest.fixture
def operator_api(lab: Lab, operator: dict[str, str]) -> Iterator[httpx.Client]:
    """The console's API with the operator's token, for what the commands never send."""
    token = json.loads(Path(operator["OPENLPM_CREDENTIALS"]).read_text())[lab.state.hmc_url]
    with httpx.Client(base_url=lab.state.hmc_url, timeout=60,
                      headers={"Authorization": f"Bearer {token}"},
                      verify=site.console_trust(lab.state)) as client:
        yield client


def partitions(lab: Lab) -> list[str]:
    return lab.values("lssyscfg", "-r", "lpar", "-m", "sys1", "-F", "name")


def audited(lab: Lab) -> list[str]:
    return lab.values("lssvcevents", "-t", "console", "-i", "30", "-F",
                      "user:text:result:code")


def mksyscfg(lab: Lab, attributes: str, env: dict[str, str] | None = None) -> \
        tuple[int, str]:
    done = lab.run("mksyscfg", "-r", "lpar", "-m", "sys1", "-i", attributes, env=env,
                   check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(("name", "devices", "shown"), [
    ("shadow", "disks=/etc/shadow", "/etc/shadow"),
    ("rootfs", "shares=/", "/"),
    ("vfio", '"io_slots=0000:00:01.0"', "0000:00:01.0"),
])
def test_an_operator_cannot_give_a_partition_the_host_s_devices(
        lab: Lab, operator: dict[str, str], name: str, devices: str, shown: str) -> None:
    status, out = mksyscfg(lab, PROFILE.format(name=name) + devices, env=operator)

    assert status == 12, out
    assert "HSCLF533" in out and "hmcsuperadmin" in out and shown in out
    assert name not in partitions(lab)
    assert f"{OPERATOR}:POST /systems/sys1/partitions:failed:HSCLF533" in audited(lab)


def test_an_io_slot_cannot_carry_a_qemu_option(lab: Lab, operator: dict[str, str],
                                               operator_api: httpx.Client) -> None:
    injected = "01:00.0,romfile=/etc/shadow"
    # The command splits the list at the comma: 'romfile=...' is no PCI address.
    status, out = mksyscfg(lab, PROFILE.format(name="inject") + f'"io_slots={injected}"',
                           env=operator)
    assert status == 2 and "HSCLF007" in out and "romfile" in out
    # Sent to the API as one value, past the command.
    reply = operator_api.post("/systems/sys1/partitions", json={
        "name": "inject", "min_mem": 128, "desired_mem": 128, "max_mem": 128,
        "min_procs": 1, "desired_procs": 1, "max_procs": 1, "io_slots": [injected]})

    assert reply.status_code == 400 and reply.json()["code"] == "HSCLF101", reply.text
    assert "io_slots" in reply.json()["message"]
    assert "inject" not in partitions(lab)
    assert f"{OPERATOR}:POST /systems/sys1/partitions:failed:HSCLF101" in audited(lab)


@pytest.mark.parametrize(("name", "devices", "shown"), [
    ("admshadow", "disks=/etc/shadow", "/etc/shadow"),
    ("admescape", "disks=/tmp/../etc/shadow", "(resolved: /etc/shadow)"),
    ("admroot", "shares=/", "share /"),
])
def test_even_a_super_administrator_gets_no_host_file_from_an_agent_allowing_none(
        lab: Lab, name: str, devices: str, shown: str) -> None:
    status, out = mksyscfg(lab, PROFILE.format(name=name) + devices)

    assert status == 12, out
    assert "HSCLF534" in out and shown in out and name in out and "--allow-dir" in out
    assert name not in partitions(lab)
    assert "hscroot:POST /systems/sys1/partitions:failed:HSCLF534" in audited(lab)
    assert lab.qemu_pids("sys1", name) == []


def test_a_profile_stored_before_the_rule_does_not_start(lab: Lab) -> None:
    # As an agent without the rule would have stored it.
    profiles = site.LabState.directory(lab.state.prefix) / "sys1" / "profiles"
    stored = PartitionProfile(name="legacy", lpar_id=90, min_mem=128, desired_mem=128,
                              max_mem=128, min_procs=1, desired_procs=1, max_procs=1,
                              shares=("/",))
    (profiles / "legacy.json").write_text(ProfileRecord(profile=stored).model_dump_json())
    try:
        refused = lab.run("chsysstate", "-r", "lpar", "-m", "sys1", "-o", "on", "-n",
                          "legacy", check=False)

        assert refused.returncode == 12 and "HSCLF534" in refused.stderr, refused.stderr
        assert lab.values("lssyscfg", "-r", "lpar", "-m", "sys1", "-F", "state",
                          "--filter", "lpar_names=legacy") == ["Not Activated"]
        assert lab.qemu_pids("sys1", "legacy") == []
    finally:
        lab.run("rmsyscfg", "-r", "lpar", "-m", "sys1", "-n", "legacy", check=False)
        (profiles / "legacy.json").unlink(missing_ok=True)
