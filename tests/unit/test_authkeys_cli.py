"""mkauthkeys and lsauthkeys spelled as on the HMC: what each form of the command asks of
the console, and the HSCL3653 of --test that IBM's Ansible collection looks for."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from openlpm.cli import authkeys
from openlpm.errors import NotPermitted, ObjectNotFound, RequestInvalid, SystemUnreachable
from openlpm.model import AuthorizedKey, RemoteConsole, Role, User

LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIEi9vKNPL+6fBvdwkboAE+MUEdSPE6rb8QQGMzqRRBx a@b"


class Console:
    """The console as mkauthkeys and lsauthkeys see it: each call recorded."""

    def __init__(self, remote_error: Exception | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.remote_error = remote_error

    async def whoami(self) -> User:
        self.calls.append(("whoami",))
        return User(name="ops", role=Role.OPERATOR, created=0.0)

    async def add_key(self, user: str, line: str) -> None:
        self.calls.append(("add_key", user, line))

    async def remove_key(self, user: str, match: str) -> None:
        self.calls.append(("remove_key", user, match))

    async def keys(self, user: str) -> list[AuthorizedKey]:
        self.calls.append(("keys", user))
        return [AuthorizedKey(id="0a1b2c3d", user=user, type="ssh-ed25519",
                              fingerprint="SHA256:abc", comment="a@b", added=0.0, key=LINE)]

    async def forget_keys(self, ip: str, user: str) -> None:
        self.calls.append(("forget_keys", ip, user))

    async def exchange_keys(self, exchange: Any) -> RemoteConsole:  # noqa: ANN401
        self.calls.append(("exchange_keys", exchange.ip, exchange.user, exchange.password))
        return RemoteConsole(name="hmcb", url="https://hmcb:8480", user=exchange.user,
                             added=0.0, mover_authority_fingerprint="FP")

    async def remote_systems(self, ip: str, user: str | None = None) -> list[str]:
        self.calls.append(("remote_systems", ip, user))
        if self.remote_error:
            raise self.remote_error
        return ["sys3"]

    async def remote_consoles(self) -> list[RemoteConsole]:
        self.calls.append(("remote_consoles",))
        return []


def parse(*argv: str) -> argparse.Namespace:
    return authkeys.mkauthkeys_parser().parse_args(argv)


async def run(console: Console, *argv: str) -> None:
    await authkeys._mkauthkeys(parse(*argv), console)  # type: ignore[arg-type]


@pytest.mark.parametrize(("argv", "action"), [
    (("-a", LINE), "add"),
    (("--add", LINE, "-u", "bob"), "add"),
    (("-u", "bob", "-a", LINE), "add"),
    (("-r", LINE), "remove"),
    (("--remove", "a@b"), "remove"),
    (("--ip", "hmcb"), "exchange"),
    (("--ip", "hmcb", "-u", "hscroot", "-g", "--passwd", "pw"), "exchange"),
    (("-r", "--ip", "hmcb", "-u", "op"), "forget"),
    (("--ip", "hmcb", "--test"), "test"),
    (("--ip", "hmcb", "-u", "hscroot", "--test"), "test"),
])
def test_each_form_of_the_command(argv: tuple[str, ...], action: str) -> None:
    assert authkeys.mode(parse(*argv)) == action


@pytest.mark.parametrize("argv", [
    (), ("-a",), ("-r",), ("-a", "-r", LINE), ("--test",), ("--passwd", "x", "-a", LINE),
    ("-g", "-a", LINE), ("--ip", "hmcb", "-a", LINE), ("--ip", "hmcb", "-r", "a@b"),
    ("--ip", "hmcb", "--test", "--passwd", "x"), ("--ip", "hmcb", "-r", "--passwd", "x"),
    ("a@b",),
])
def test_options_that_do_not_go_together_are_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(RequestInvalid) as refused:
        authkeys.mode(parse(*argv))
    assert refused.value.code == "HSCLF001"


async def test_a_key_is_added_for_the_signed_in_user_quietly(
        capsys: pytest.CaptureFixture[str]) -> None:
    console = Console()
    await run(console, "-a", LINE)
    await run(console, "-a", LINE, "-u", "bob")
    await run(console, "-r", "a@b")
    assert console.calls == [("whoami",), ("add_key", "ops", LINE), ("add_key", "bob", LINE),
                             ("whoami",), ("remove_key", "ops", "a@b")]
    assert capsys.readouterr().out == ""


async def test_the_exchange_acts_as_the_signed_in_user_with_passwd() -> None:
    console = Console()
    await run(console, "--ip", "hmcb", "-g", "--passwd", "secret")
    assert ("exchange_keys", "hmcb", "ops", "secret") in console.calls
    await run(console, "-r", "--ip", "hmcb", "-u", "op")
    assert console.calls[-1] == ("forget_keys", "hmcb", "op")


async def test_test_is_quiet_when_the_keys_work(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console()
    await run(console, "--ip", "hmcb", "--test")
    assert console.calls == [("whoami",), ("remote_systems", "hmcb", "ops")]
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("error", [
    ObjectNotFound("This console has not exchanged keys with console hmcb", code="HSCLF520"),
    ObjectNotFound("This console holds no keys for user ops", code="HSCLF521"),
    SystemUnreachable("Remote console hmcb did not answer", code="HSCLF522"),
    NotPermitted("Remote console hmcb (as ops): User ops may not", code="HSCLF505"),
])
async def test_test_gives_hscl3653_when_no_keys_or_they_fail(error: Exception) -> None:
    with pytest.raises(Exception) as failed:
        await run(Console(error), "--ip", "hmcb", "-u", "ops", "--test")
    assert getattr(failed.value, "code", None) == "HSCL3653"
    assert "mkauthkeys --ip hmcb -u ops" in str(failed.value)
    assert str(failed.value).startswith("HSCL3653 ")


async def test_test_by_a_user_this_console_refuses_says_so() -> None:
    mine = NotPermitted("User v (hmcviewer) may not GET /remote-systems", code="HSCLF505")
    with pytest.raises(NotPermitted) as refused:
        await run(Console(mine), "--ip", "hmcb", "--test")
    assert refused.value.code == "HSCLF505"


def test_hscl3653_leaves_the_command_with_a_non_zero_status(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    console = Console(ObjectNotFound("none", code="HSCLF520"))
    real = authkeys._mkauthkeys

    async def command(args: argparse.Namespace, hmc: object) -> None:
        await real(args, console)  # type: ignore[arg-type]

    monkeypatch.setattr(authkeys, "_mkauthkeys", command)
    monkeypatch.setattr("openlpm.cli.hmc_command.hmc_url", lambda: "http://127.0.0.1:1")
    status = authkeys.mkauthkeys(["--ip", "hmcb", "-u", "ops", "--test"])
    assert status != 0 and capsys.readouterr().err.startswith("HSCL3653 ")


async def test_lsauthkeys_lists_the_user_s_keys_or_the_remote_consoles(
        capsys: pytest.CaptureFixture[str]) -> None:
    console = Console()
    args = authkeys.lsauthkeys_parser().parse_args(["-F", "type,comment,fingerprint"])
    await authkeys._lsauthkeys(args, console)  # type: ignore[arg-type]
    assert capsys.readouterr().out == "ssh-ed25519,a@b,SHA256:abc\n"
    args = authkeys.lsauthkeys_parser().parse_args(["-u", "bob", "-F", "key"])
    await authkeys._lsauthkeys(args, console)  # type: ignore[arg-type]
    assert capsys.readouterr().out == f"{LINE}\n"
    args = authkeys.lsauthkeys_parser().parse_args(["--remote", "-F", "name"])
    await authkeys._lsauthkeys(args, console)  # type: ignore[arg-type]
    assert capsys.readouterr().out.strip() == "No results were found."
    assert console.calls == [("whoami",), ("keys", "ops"), ("keys", "bob"),
                             ("remote_consoles",)]
