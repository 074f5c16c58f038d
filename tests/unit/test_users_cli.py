"""mkhmcusr and chhmcusr in both of the HMC's forms: flags (-u -a -d --passwd -M) and
input data (-i, -f); what openlpm cannot keep is refused or said, never dropped quietly."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from openlpm.cli.users import (
    _chhmcusr,
    _mkhmcusr,
    chhmcusr,
    chhmcusr_parser,
    mkhmcusr,
    mkhmcusr_parser,
)
from openlpm.errors import RequestInvalid
from openlpm.model import Role, UserChange, UserCreate


class Console:
    def __init__(self) -> None:
        self.created: list[UserCreate] = []
        self.changed: list[tuple[str, UserChange]] = []

    async def create_user(self, user: UserCreate) -> None:
        self.created.append(user)

    async def change_user(self, name: str, change: UserChange) -> None:
        self.changed.append((name, change))


async def made(*argv: str, stdin: str = "") -> UserCreate:
    console = Console()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(stdin))
        await _mkhmcusr(mkhmcusr_parser().parse_args(argv), console)  # type: ignore[arg-type]
    return console.created[0]


async def refused(*argv: str) -> RequestInvalid:
    with pytest.raises(RequestInvalid) as raised:
        await made(*argv, stdin="from-stdin\n")
    return raised.value


async def test_input_data_makes_the_user_as_on_the_hmc() -> None:
    user = await made("-i", "name=ann,taskrole=hmcoperator,passwd=ann-password")
    assert (user.name, user.role, user.password) == ("ann", Role.OPERATOR, "ann-password")


async def test_without_passwd_the_password_comes_from_standard_input() -> None:
    user = await made("-i", "name=bob,taskrole=hmcviewer", stdin="bob-password\n")
    assert user.password == "bob-password"
    user = await made("-u", "cy", "-a", "hmcsuperadmin", stdin="cy-password\n")
    assert (user.name, user.role, user.password) == ("cy", Role.SUPERADMIN, "cy-password")


async def test_the_flags_form_takes_passwd_and_the_default_password_age() -> None:
    user = await made("-u", "dan", "-a", "hmcviewer", "--passwd", "dan-password", "-M",
                      "99999")
    assert user.password == "dan-password"


async def test_input_data_can_come_from_a_file(tmp_path: Path) -> None:
    data = tmp_path / "user.txt"
    data.write_text("name=eve,taskrole=hmcviewer,passwd=eve-password\n")
    assert (await made("-f", str(data))).name == "eve"
    missing = await refused("-f", str(tmp_path / "nosuch"))
    assert missing.code == "HSCLF016" and "nosuch" in missing.message


async def test_a_description_is_taken_and_said_not_to_be_kept(
        capsys: pytest.CaptureFixture[str]) -> None:
    await made("-i", 'name=fay,taskrole=hmcviewer,passwd=fay-password,"description=ops, '
               'night shift"')
    captured = capsys.readouterr()
    assert captured.out == "" and "does not keep user descriptions" in captured.err


@pytest.mark.parametrize(("argv", "code", "says"), [
    (["-i", "name=g,taskrole=hmcviewer,resourcerole=all"], "HSCLF003", "resourcerole"),
    (["-i", "name=g,taskrole=hmcviewer,pwage=90"], "HSCLF570", "do not expire"),
    (["-u", "g", "-a", "hmcviewer", "-M", "30"], "HSCLF570", "do not expire"),
    (["-i", "name=g,taskrole=hmcpe"], "HSCLF001", "hmcsuperadmin"),
    (["-i", "name=g"], "HSCLF001", "taskrole="),
    (["-i", "taskrole=hmcviewer"], "HSCLF001", "name="),
    (["-u", "g", "-i", "name=g,taskrole=hmcviewer"], "HSCLF001", "-u"),
    (["-u", "g"], "HSCLF001", "-a ROLE"),
])
async def test_what_openlpm_cannot_do_is_refused_by_name(
        argv: list[str], code: str, says: str) -> None:
    error = await refused(*argv)
    assert error.code == code and says in error.message


def test_i_and_f_exclude_each_other_as_argument_errors(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert mkhmcusr(["-i", "name=a,taskrole=hmcviewer", "-f", "x"]) == 2
    assert capsys.readouterr().err.startswith("HSCLF001 mkhmcusr: argument -f")
    assert chhmcusr(["-i", "name=a,taskrole=hmcviewer", "-f", "x"]) == 2


async def changed(*argv: str) -> tuple[str, UserChange]:
    console = Console()
    await _chhmcusr(chhmcusr_parser().parse_args(argv), console)  # type: ignore[arg-type]
    return console.changed[0]


async def test_chhmcusr_takes_input_data_and_the_hmc_s_v_password() -> None:
    assert await changed("-i", "name=ann,taskrole=hmcviewer") == (
        "ann", UserChange(role=Role.VIEWER))
    assert await changed("-i", "name=ann,passwd=new-password") == (
        "ann", UserChange(password="new-password"))
    assert await changed("-u", "ann", "-t", "passwd", "-v", "other-password") == (
        "ann", UserChange(password="other-password"))
    with pytest.raises(RequestInvalid, match="changes nothing"):
        await changed("-i", "name=ann")
