"""Every listing command, run through its entry point with stdout a pipe, prints the
bytes the HMC prints: records only, no colour, no table, no trailing blanks, ``\\n`` line
ends, a value holding a comma in double quotes; so ``awk -F,`` and ``cut -d,`` pipelines
written for the HMC read the same fields. Also ``-F`` alone (every value) and the HMC's
HSCL8012 for an unknown partition in ``--filter lpar_names=``."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from openlpm.cli import authkeys, commands, lssyscfg, sysconn, users, virtualio
from openlpm.cli.main import main
from openlpm.clients.console_views import (
    PartitionSummaryView,
    SystemSummaryView,
    read,
    read_list,
)
from openlpm.model import (
    AuditEvent,
    AuthorizedKey,
    Lun,
    MigrationState,
    Partition,
    PartitionProfile,
    PartitionState,
    PartitionSummary,
    RemoteConsole,
    ResourceType,
    Role,
    SysConn,
    SystemSummary,
    User,
    VirtualEthernetAdapter,
    VirtualFcAdapter,
    VirtualScsiAdapter,
)

WWPNS = ("c0507600000000a0", "c0507600000000a1")
AT = 1_790_000_000.0


def partition(name: str, lpar_id: int) -> PartitionSummary:
    profile = PartitionProfile(
        name=name, lpar_id=lpar_id, min_mem=256, desired_mem=512, max_mem=512, min_procs=1,
        desired_procs=1, max_procs=1,
        virtual_eth_adapters=(VirtualEthernetAdapter(slot=2, port_vlan_id=10,
                                                     mac_addr="52:54:00:00:00:01"),),
        virtual_fc_adapters=(VirtualFcAdapter(slot=4, wwpns=WWPNS),),
        virtual_scsi_adapters=(VirtualScsiAdapter(slot=5, luns=("l1", "l2")),))
    return PartitionSummary(system="sys1", partition=Partition(
        profile=profile, state=PartitionState.RUNNING, curr_mem=512, curr_procs=1),
        migration_state=MigrationState.NOT_MIGRATING)


class FakeConsole:
    """What the listing commands ask the console, answered from memory."""

    def __init__(self, _url: str = "") -> None:
        pass

    async def __aenter__(self) -> FakeConsole:
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None
                        ) -> None:
        pass

    async def systems(self) -> list[SystemSummary]:
        return [SystemSummary(name="sys1", state="Operating", agent_url="https://a:1")]

    async def system(self, name: str) -> SystemSummary:
        return (await self.systems())[0]

    async def partitions(self, system: str) -> list[PartitionSummary]:
        return [partition("web1", 1), partition("db1", 2)]

    async def system_migration(self, system: str) -> dict[str, Any]:
        return {"num_active_migrations_supported": 4, "num_active_migrations_in_progress": 0}

    async def migrations(self, system: str) -> list[Any]:
        return []

    async def luns(self) -> list[Lun]:
        return [Lun(name="l1", size_mb=64, host="10.0.0.9", port=3260,
                    mappings=WWPNS)]

    async def users(self) -> list[User]:
        return [User(name="hscroot", role=Role.SUPERADMIN, created=AT)]

    async def audit(self, since: float = 0.0) -> list[AuditEvent]:
        return [AuditEvent(at=AT, user="ann", action="POST /migrations", result="refused",
                           code="HSCL350B")]

    async def remote_consoles(self) -> list[RemoteConsole]:
        return [RemoteConsole(name="hmcb", url="https://hmcb:12443", user="hscroot",
                              added=AT, mover_authority_fingerprint="SHA256:ab")]

    async def whoami(self) -> User:
        return User(name="hscroot", role=Role.SUPERADMIN, created=AT)

    async def keys(self, user: str) -> list[AuthorizedKey]:
        return [AuthorizedKey(id="0a1b2c3d", user=user, type="ssh-ed25519",
                              fingerprint="SHA256:ab", comment="ann@laptop", added=AT,
                              key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA ann@laptop")]

    async def connections(self) -> list[SysConn]:
        return [SysConn(resource_type=ResourceType.SYS, type_model_serial_num="openlpm*sys1",
                        ipaddr="198.18.0.11", state="Connected", name="sys1",
                        version="0.2.0")]


class FakeReader:
    """lssyscfg's ConsoleReader: FakeConsole's answers, read from their JSON as the
    reader reads the console's."""

    def __init__(self, _url: str = "") -> None:
        self._console = FakeConsole()

    def __enter__(self) -> FakeReader:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None
                 ) -> None:
        pass

    def systems(self) -> list[SystemSummaryView]:
        answer = asyncio.run(self._console.systems())
        return read_list(SystemSummaryView, [s.model_dump(mode="json") for s in answer])

    def system(self, name: str) -> SystemSummaryView:
        answer = asyncio.run(self._console.system(name))
        return read(SystemSummaryView, answer.model_dump(mode="json"))

    def partitions(self, system: str) -> list[PartitionSummaryView]:
        answer = asyncio.run(self._console.partitions(system))
        return read_list(PartitionSummaryView, [p.model_dump(mode="json") for p in answer])


@pytest.fixture(autouse=True)
def fake_console(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("openlpm.cli.hmc_command", "openlpm.cli.virtualio"):
        monkeypatch.setattr(f"{module}.HmcClient", FakeConsole)
        monkeypatch.setattr(f"{module}.hmc_url", lambda: "https://hmc:12443")
    monkeypatch.setattr("openlpm.cli.lssyscfg.ConsoleReader", FakeReader)
    monkeypatch.setattr("openlpm.cli.lssyscfg.hmc_url", lambda: "https://hmc:12443")


def run_to_pipe(entry: Callable[[Sequence[str]], int], argv: Sequence[str]
                ) -> tuple[int, bytes]:
    """Run a command with stdout the write end of a pipe (not a terminal), as in
    ``lssyscfg ... | awk``; returns its exit status and the bytes that came through."""
    read_end, write_end = os.pipe()
    stdout = io.TextIOWrapper(os.fdopen(write_end, "wb"), encoding="utf-8")
    saved = sys.stdout
    sys.stdout = stdout
    try:
        status = entry(argv)
    finally:
        sys.stdout = saved
        stdout.close()
    with os.fdopen(read_end, "rb") as pipe:
        return status, pipe.read()


def san(argv: Sequence[str]) -> int:
    return main(["san", *argv])


def token(argv: Sequence[str]) -> int:
    return main(["token", *argv])


LISTINGS: list[tuple[str, Callable[[Sequence[str]], int], list[str]]] = [
    ("lssyscfg sys", lssyscfg.lssyscfg, ["-r", "sys"]),
    ("lssyscfg lpar", lssyscfg.lssyscfg, ["-r", "lpar", "-m", "sys1"]),
    ("lssyscfg prof", lssyscfg.lssyscfg, ["-r", "prof", "-m", "sys1"]),
    ("lslparmigr lpar", commands.lslparmigr, ["-r", "lpar", "-m", "sys1"]),
    ("lslparmigr sys", commands.lslparmigr, ["-r", "sys", "-m", "sys1"]),
    ("lshwres eth", virtualio.lshwres, ["-r", "virtualio", "--rsubtype", "eth", "-m",
                                        "sys1"]),
    ("lshwres fc", virtualio.lshwres, ["-r", "virtualio", "--rsubtype", "fc", "-m", "sys1"]),
    ("lshwres scsi", virtualio.lshwres, ["-r", "virtualio", "--rsubtype", "scsi", "-m",
                                         "sys1"]),
    ("lshmcusr", users.lshmcusr, []),
    ("lssvcevents", users.lssvcevents, ["-t", "console"]),
    ("lsauthkeys", authkeys.lsauthkeys, []),
    ("lsauthkeys --remote", authkeys.lsauthkeys, ["--remote"]),
    ("lssysconn", sysconn.lssysconn, ["-r", "all"]),
    ("openlpm san lslun", san, ["lslun"]),
]
FORMS = [[], ["-F"], ["-F", "--header"]]


def plain(output: bytes) -> Iterator[str]:
    """Each line of a listing, after the checks every HMC listing passes."""
    text = output.decode("ascii")
    assert "\x1b" not in text and "\r" not in text and "\t" not in text
    assert not any(box in text for box in "─│┃━┏")
    assert text.endswith("\n") and not text.endswith("\n\n")
    for line in text.splitlines():
        assert line == line.rstrip() and line
        yield line


@pytest.mark.parametrize("form", FORMS, ids=["attr=value", "-F", "-F --header"])
@pytest.mark.parametrize(("name", "entry", "argv"), LISTINGS, ids=[n for n, _, _ in LISTINGS])
def test_a_listing_to_a_pipe_is_records_only_in_the_hmc_s_bytes(
        name: str, entry: Callable[[Sequence[str]], int], argv: list[str], form: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    status, output = run_to_pipe(entry, [*argv, *form])
    assert status == 0, capsys.readouterr().err
    lines = list(plain(output))
    if not form:
        assert all("=" in line for line in lines)
    if "--header" in form:
        header, first = lines[0].split(","), next(csv.reader([lines[1]]))
        assert len(header) == len(first) and "=" not in lines[0]


def test_f_alone_prints_every_value_in_the_record_s_order() -> None:
    _, every = run_to_pipe(lssyscfg.lssyscfg, ["-r", "lpar", "-m", "sys1", "-F"])
    _, named = run_to_pipe(lssyscfg.lssyscfg, ["-r", "lpar", "-m", "sys1"])
    pairs = next(csv.reader([named.decode().splitlines()[0]]))
    values = [pair.split("=", 1)[1] for pair in pairs]
    assert next(csv.reader([every.decode().splitlines()[0]])) == values
    assert every.decode().startswith("web1,1,aixlinux,Running,")
    _, header = run_to_pipe(lssyscfg.lssyscfg, ["-r", "lpar", "-m", "sys1", "-F", "--header"])
    assert header.decode().splitlines()[0].split(",") == [p.split("=")[0] for p in pairs]


def test_a_value_with_commas_is_quoted_so_awk_and_cut_see_the_hmc_s_fields(
        tmp_path: Path) -> None:
    _, output = run_to_pipe(virtualio.lshwres, ["-r", "virtualio", "--rsubtype", "fc",
                                                "-m", "sys1", "-F",
                                                "lpar_name,wwpns,slot_num"])
    first = output.decode().splitlines()[0]
    assert first == f'web1,"{WWPNS[0]},{WWPNS[1]}",4'
    listing = tmp_path / "fc.txt"
    listing.write_bytes(output)
    if not (shutil.which("awk") and shutil.which("cut")):
        pytest.skip("no awk or cut")
    # As on the HMC, a quoted list splits at its commas too: the partition name is field
    # 1 and the quoted list starts field 2, for awk -F, and cut -d, alike.
    awk = subprocess.run(["awk", "-F,", "{print $1}", str(listing)], capture_output=True,
                         check=True).stdout
    cut = subprocess.run(["cut", "-d,", "-f1", str(listing)], capture_output=True,
                         check=True).stdout
    assert awk == cut == b"web1\ndb1\n"
    second = subprocess.run(["cut", "-d,", "-f2", str(listing)], capture_output=True,
                            check=True).stdout
    assert second.decode().splitlines()[0] == f'"{WWPNS[0]}'


@pytest.mark.parametrize(("entry", "argv"), [
    (lssyscfg.lssyscfg, ["-r", "lpar", "-m", "sys1"]),
    (lssyscfg.lssyscfg, ["-r", "prof", "-m", "sys1"]),
    (commands.lslparmigr, ["-r", "lpar", "-m", "sys1"]),
    (virtualio.lshwres, ["-r", "virtualio", "--rsubtype", "eth", "-m", "sys1"]),
])
def test_an_unknown_partition_in_the_filter_is_the_hmc_s_hscl8012(
        entry: Callable[[Sequence[str]], int], argv: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    status, output = run_to_pipe(entry, [*argv, "--filter", "lpar_names=nosuch"])
    err = capsys.readouterr().err
    assert status == 3 and output == b""
    assert err.startswith("HSCL8012 The partition named nosuch was not found on managed "
                          "system sys1.")
    # Known names given with it do not save the command: the HMC fails it too.
    status, output = run_to_pipe(entry, [*argv, "--filter", '"lpar_names=web1,ghost,x"'])
    err = capsys.readouterr().err
    assert status == 3 and output == b""
    assert err.startswith("HSCL8012 The partitions named ghost, x were not found")
    status, output = run_to_pipe(entry, [*argv, "--filter", "lpar_names=web1", "-F"])
    assert status == 0 and output.count(b"\n") == 1 and b"web1," in output


@pytest.mark.parametrize(("entry", "argv"), [
    (commands.rmsyscfg, ["-r", "lpar", "-m", "sys1", "-n", "nosuch"]),
    (commands.chsysstate, ["-r", "lpar", "-m", "sys1", "-o", "on", "-n", "nosuch"]),
])
def test_a_partition_named_that_the_system_does_not_have_is_hscl8012(
        entry: Callable[[Sequence[str]], int], argv: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    """IBM's Ansible collection takes HSCL8012 after rmsyscfg as "already gone"."""
    assert entry(argv) == 3
    assert capsys.readouterr().err.startswith("HSCL8012 The partition named nosuch was not "
                                              "found on managed system sys1.")
