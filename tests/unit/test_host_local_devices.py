"""Host-local devices (disks, shares, io_slots) cannot hand a partition its host.

Three guards, each tested here without root or QEMU: the profile's rules refuse a value
that could add a QEMU option; the console lets only a super administrator give them;
an agent gives only paths inside the directories it allows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from openlpm.agent.host_devices import AllowedDirectories
from openlpm.agent.partitions import Capacity, PartitionManager
from openlpm.agent.profiles import ProfileRecord
from openlpm.agent.qemu import BootImage, QemuSettings, device_arguments
from openlpm.cli.attributes import parse_attributes
from openlpm.cli.commands import profile_from
from openlpm.errors import NotPermitted, RequestInvalid
from openlpm.model import PartitionProfile, PartitionState, Role
from tests.unit.signed_in import ADMIN, add_user, audited, sign_in

BASE = {"name": "p1", "min_mem": 64, "desired_mem": 64, "max_mem": 64,
        "min_procs": 1, "desired_procs": 1, "max_procs": 1}


def profile(**devices: tuple[str, ...]) -> PartitionProfile:
    return PartitionProfile.model_validate(BASE | devices)


# -- the profile's rules ------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("disks", "/srv/vm/p1.img"), ("shares", "/srv/share dir"), ("io_slots", "0000:03:00.0"),
    ("io_slots", "03:1f.7"),
])
def test_absolute_paths_and_pci_addresses_are_taken(field: str, value: str) -> None:
    assert profile(**{field: (value,)}).host_devices == (value,)


@pytest.mark.parametrize(("field", "value"), [
    ("disks", "srv/p1.img"),                          # relative: resolved who knows where
    ("disks", "/srv/p1.img,readonly=off"),            # a comma would start a QEMU option
    ("shares", "/srv/share\n-device x"),              # a control character
    ("disks", "/srv/\x00p1.img"),
    ("shares", ""),
    ("io_slots", "01:00.0,romfile=/etc/shadow"),      # the injection of the report
    ("io_slots", "0000:03:00.8"),                     # functions are 0-7
    ("io_slots", "03:00"),
    ("io_slots", "0000:03:00.0 "),
])
def test_a_value_that_could_reach_past_its_qemu_option_is_refused(field: str,
                                                                  value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        profile(**{field: (value,)})


def test_the_command_refuses_an_injected_io_slot_before_the_console_sees_it() -> None:
    text = ('name=p1,min_mem=64,desired_mem=64,max_mem=64,min_procs=1,desired_procs=1,'
            'max_procs=1,"io_slots=01:00.0,romfile=/etc/shadow"')
    with pytest.raises(RequestInvalid, match="romfile") as refused:
        profile_from(parse_attributes(text))
    assert refused.value.code == "HSCLF007"


def test_qemu_gets_each_value_as_one_option_value() -> None:
    args = device_arguments(profile(disks=("/srv/a.img",), io_slots=("03:00.0",)))
    assert args == ["-drive", "file=/srv/a.img,if=none,id=disk0,format=raw",
                    "-device", "virtio-blk-pci,drive=disk0", "-device", "vfio-pci,host=03:00.0"]


# -- the directories an agent allows ------------------------------------------------------


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """An allowed directory ``vm`` with a disk, a share and a link out of it; beside it,
    ``vm2`` (a longer name, not inside) and a secret."""
    (tmp_path / "vm" / "share").mkdir(parents=True)
    (tmp_path / "vm" / "p1.img").write_bytes(b"")
    (tmp_path / "vm2").mkdir()
    (tmp_path / "secret").write_text("root:x")
    (tmp_path / "vm" / "link.img").symlink_to(tmp_path / "secret")
    return tmp_path


def allowing(*directories: Path) -> AllowedDirectories:
    return AllowedDirectories.of("sys1", directories)


def test_disks_and_shares_inside_an_allowed_directory_are_given(host: Path) -> None:
    allowing(host / "vm").check(profile(disks=(f"{host}/vm/p1.img",),
                                        shares=(f"{host}/vm/share", f"{host}/vm")))


@pytest.mark.parametrize(("field", "path"), [
    ("disks", "/etc/shadow"),
    ("shares", "/"),
    ("shares", "{host}"),                 # the allowed directory's parent
    ("disks", "{host}/vm/../secret"),     # out by ..
    ("disks", "{host}/vm/link.img"),      # out by a symbolic link
    ("shares", "{host}/vm2"),             # a name that only begins like the allowed one
])
def test_a_path_outside_the_allowed_directories_is_refused_naming_it_and_the_fix(
        host: Path, field: str, path: str) -> None:
    given = path.format(host=host)
    with pytest.raises(NotPermitted) as refused:
        allowing(host / "vm").check(profile(**{field: (given,)}))
    assert refused.value.code == "HSCLF534"
    message = str(refused.value)
    assert given in message and "p1" in message and "--allow-dir" in message
    assert str(host / "vm") in message


def test_by_default_no_directory_is_allowed(host: Path) -> None:
    with pytest.raises(NotPermitted, match=r"allowed: none"):
        allowing().check(profile(disks=(f"{host}/vm/p1.img",)))
    allowing().check(profile(io_slots=("03:00.0",)))     # not a path: the console's to rule


def test_an_allowed_directory_given_by_a_link_is_taken_resolved(host: Path) -> None:
    (host / "vm-link").symlink_to(host / "vm")
    allowing(host / "vm-link").check(profile(disks=(f"{host}/vm/p1.img",)))


@pytest.mark.parametrize("directory", ["/", "relative/dir", "/srv/.."])
def test_the_root_or_a_relative_directory_cannot_be_allowed(directory: str) -> None:
    with pytest.raises(RequestInvalid, match="--allow-dir") as refused:
        allowing(Path(directory))
    assert refused.value.code == "HSCLF535"


def manager(tmp_path: Path, *allowed: Path) -> PartitionManager:
    settings = QemuSettings("/nonexistent/qemu", "tcg",
                            BootImage(Path("/k"), Path("/i"), "console=ttyS0"))
    return PartitionManager("sys1", tmp_path / "state", Capacity(2, 1024), settings,
                            allowed_dirs=allowed)


async def test_the_agent_stores_nothing_for_a_refused_path(host: Path) -> None:
    systems = manager(host, host / "vm")
    with pytest.raises(NotPermitted, match="/etc/shadow"):
        await systems.create(profile(disks=("/etc/shadow",)), None, running=False)
    assert systems.partitions() == []
    created = await systems.create(profile(disks=(f"{host}/vm/p1.img",)), None,
                                   running=False)
    assert created.profile.disks == (f"{host}/vm/p1.img",)


async def test_a_profile_stored_before_the_rule_does_not_start(host: Path) -> None:
    systems = manager(host, host / "vm")
    # As an older agent stored it, with no check.
    systems.store.put(ProfileRecord(profile=profile(shares=("/",))))
    with pytest.raises(NotPermitted, match="share /"):
        await systems.activate("p1")
    assert systems.partition("p1").state == PartitionState.NOT_ACTIVATED
    assert systems.qemu_pids() == {}


# -- who may give them --------------------------------------------------------------------


@pytest.mark.parametrize("devices", [
    {"disks": ["/etc/shadow"]}, {"shares": ["/"]}, {"io_slots": ["0000:01:00.0"]},
])
def test_an_operator_may_not_give_host_local_devices_and_the_refusal_is_audited(
        console: TestClient, devices: dict[str, list[str]]) -> None:
    operator = add_user(console, "bob", Role.OPERATOR)
    reply = console.post("/systems/sys1/partitions", headers=operator, json=BASE | devices)
    assert reply.status_code == 403 and reply.json()["code"] == "HSCLF533"
    assert "hmcsuperadmin" in reply.json()["message"]
    assert next(iter(devices.values()))[0] in reply.json()["message"]
    assert ("bob", "POST /systems/sys1/partitions", "failed", "HSCLF533") in audited(console)


def test_a_super_administrator_may_and_an_operator_may_without_them(
        console: TestClient) -> None:
    # Let through by the role: what is refused next is the unknown system.
    admin = sign_in(console, *ADMIN)
    reply = console.post("/systems/sys9/partitions", headers=admin,
                         json=BASE | {"disks": ["/srv/p1.img"]})
    assert reply.json()["code"] == "HSCLF162"
    operator = add_user(console, "bob", Role.OPERATOR)
    reply = console.post("/systems/sys9/partitions", headers=operator,
                         json=BASE | {"networks": ["user"]})
    assert reply.json()["code"] == "HSCLF162"


def test_an_injected_io_slot_sent_to_the_api_is_refused_and_audited(
        console: TestClient) -> None:
    admin = sign_in(console, *ADMIN)
    reply = console.post("/systems/sys1/partitions", headers=admin,
                         json=BASE | {"io_slots": ["01:00.0,romfile=/etc/shadow"]})
    assert reply.status_code == 400 and reply.json()["code"] == "HSCLF101"
    assert "io_slots" in reply.json()["message"]
    assert ("hscroot", "POST /systems/sys1/partitions", "failed", "HSCLF101") in \
        audited(console)


def test_another_console_s_operator_may_not_send_them_through_peer(
        console: TestClient) -> None:
    operator = add_user(console, "bob", Role.OPERATOR)
    reply = console.post("/peer/systems/sys1/agent/partitions", headers=operator,
                         json={"profile": BASE | {"disks": ["/etc/shadow"]},
                               "incoming_migration": "m1", "running": True})
    assert reply.status_code == 403 and reply.json()["code"] == "HSCLF533"
